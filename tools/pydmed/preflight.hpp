#pragma once
// Before the process tree starts, what can be checked cheaply for every patient: its slide
// files can be opened for reading, its annotations parse and (under --roi include) hold a
// polygon. A patient that fails is left out with one line, instead of failing inside the run
// (where a short run may end before its turn comes, and a retry repeats the same error).
#include <string>
#include <vector>

#include "pydmed/data/dataset.hpp"
#include "pydmed/slide/annotations.hpp"

namespace pydmed::cli {

// Removes the patients that fail from `ds`, adding "patient ID: reason" to `skipped`. Throws
// DatasetError (the first reason) when none is left.
void leave_out_unusable(Dataset& ds, RoiMode mode, std::vector<std::string>* skipped);

}  // namespace pydmed::cli
