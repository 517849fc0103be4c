#pragma once
// Before the process tree starts, what can be checked cheaply for every patient: its slide
// files can be opened for reading, its annotations parse and (under --roi include) hold a
// polygon. A patient that fails is left out with one line, instead of failing inside the run
// (where a short run may end before its turn comes, and a retry repeats the same error).
#include <string>
#include <vector>

#include <utility>

#include "physical_flags.hpp"
#include "pydmed/data/dataset.hpp"
#include "pydmed/slide/annotations.hpp"

namespace pydmed::cli {

// Removes the patients that fail from `ds`, adding "patient ID: reason" to `skipped`. Throws
// DatasetError (the first reason) when none is left.
void leave_out_unusable(Dataset& ds, RoiMode mode, std::vector<std::string>* skipped);

// A command's patients from SOURCE, as stream, sliding-window and embed take them: read
// (dataset_from_source), --slide-mpp applied, no output over an input (`outputs`: {flag, path};
// UsageError), the unusable left out. What was skipped is printed ("skipped: ...") and kept in
// `skipped` (it makes the exit status 1).
Dataset command_dataset(const std::string& source, const PhysicalFlags& physical, RoiMode mode,
                        const std::vector<std::pair<std::string, std::string>>& outputs,
                        std::vector<std::string>* skipped);

}  // namespace pydmed::cli
