#pragma once
// "Where the slides are", as the command-line tools take it: a manifest file, or a folder of
// slides with one patient per slide.
#include <string>
#include <vector>

#include "pydmed/data/dataset.hpp"

namespace pydmed {

// File suffixes taken as slides when scanning a folder (OpenSlide's formats and plain images).
const std::vector<std::string>& slide_suffixes();

// A manifest (read_manifest) or a folder (every file with a slide suffix, recursively, in
// sorted order, ids 0, 1, ..., record "wsi"). Throws DatasetError naming the path.
Dataset dataset_from_source(const std::string& source);

}  // namespace pydmed
