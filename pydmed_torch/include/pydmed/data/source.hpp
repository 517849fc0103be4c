#pragma once
// "Where the slides are", as the command-line tools take it: a manifest file, or a folder of
// slides with one patient per slide.
#include <string>
#include <vector>

#include "pydmed/data/dataset.hpp"

namespace pydmed {

// File suffixes taken as slides when scanning a folder (OpenSlide's formats and plain images).
const std::vector<std::string>& slide_suffixes();

// True when `path` names a slide or image rather than a manifest: a slide suffix, or a TIFF,
// PNG or JPEG signature in its first bytes.
bool is_slide_file(const std::string& path);

// A manifest (read_manifest); a folder (every file with a slide suffix, or without a suffix but
// DICOM, recursively, in sorted order, ids 0, 1, ..., record "wsi"); or one slide file (patient
// 0, record "wsi"). The instances of a DICOM series are one patient: its record is the series'
// folder where that folder holds nothing else (outputs are named after the folder), else the
// series' first instance file (named after it). Throws
// DatasetError naming the path, also when the source holds no patient. Folder entries that
// cannot be read are skipped and listed in `skipped` ("PATH: reason"); without `skipped`,
// the first one throws. A slide's annotations, <slide name without extension>.geojson beside
// it, become its record's "roi" info (a manifest names them in a roi:RECORD column instead).
Dataset dataset_from_source(const std::string& source, std::vector<std::string>* skipped = nullptr);

}  // namespace pydmed
