#pragma once
// An embedding job's table of contents: index.tsv in its output folder, one row per slide with
// the slide's name, its feature file, the rows and dimension, and the SHA-256 of its features
// (float32, little-endian, row by row), so that two jobs' files (one process against several
// ranks, say) are compared without opening HDF5.
#include <cstdint>
#include <string>
#include <vector>

namespace pydmed {

struct FeatureIndexRow {
  std::string slide, file;  // the slide's name (the file's, without .h5) and the file's name in the folder
  std::int64_t windows = 0, dim = 0;
  std::string features_sha256;
};

// The row of a feature file (FeatureFile::read; Error naming it when it is not one).
FeatureIndexRow feature_index_row(const std::string& path);
// Writes OUT_DIR/index.tsv (columns slide, file, windows, dim, features_sha256), whole or not at
// all, its rows sorted by slide. Throws Error naming the file, also when an index.tsv there is
// not one this tool wrote (it is left as it is).
void write_feature_index(const std::string& out_dir, std::vector<FeatureIndexRow> rows);

}  // namespace pydmed
