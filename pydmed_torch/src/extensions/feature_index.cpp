#include "pydmed/extensions/feature_index.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "pydmed/error.hpp"
#include "pydmed/extensions/feature_file.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/sha256.hpp"

namespace fs = std::filesystem;

namespace pydmed {

FeatureIndexRow feature_index_row(const std::string& path) {
  const FeatureFile f = FeatureFile::read(path);
  static_assert(sizeof(float) == 4, "float32");
  // The features' bytes as they lie in memory: little-endian on every machine pydmed builds for.
  return {fs::path(path).stem().string(), fs::path(path).filename().string(), f.rows, f.dim,
          sha256_hex(f.features.data(), f.features.size() * sizeof(float))};
}

void write_feature_index(const std::string& out_dir, std::vector<FeatureIndexRow> rows) {
  const std::string header = "slide\tfile\twindows\tdim\tfeatures_sha256";
  const std::string path = (fs::path(out_dir) / "index.tsv").string();
  if (std::ifstream old(path); old) {  // an index.tsv of the user's is never replaced
    std::string first;
    std::getline(old, first);
    if (first != header) throw Error(path + ": exists and is not an index this tool wrote: left as it is");
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.slide < b.slide; });
  std::string text = header + "\n";
  for (const auto& r : rows)
    text += r.slide + '\t' + r.file + '\t' + std::to_string(r.windows) + '\t' + std::to_string(r.dim) + '\t' +
            r.features_sha256 + '\n';
  OutputFile f(path, OutputFile::Mode::Atomic);
  f.write(text.data(), text.size());
  f.close();
}

}  // namespace pydmed
