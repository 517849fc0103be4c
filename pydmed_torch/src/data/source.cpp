#include "pydmed/data/source.hpp"

#include <algorithm>
#include <filesystem>

#include "pydmed/data/manifest.hpp"
#include "pydmed/error.hpp"

namespace fs = std::filesystem;

namespace pydmed {

const std::vector<std::string>& slide_suffixes() {
  static const std::vector<std::string> s = {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs",
                                             ".svslide", ".bif", ".png", ".jpg", ".jpeg"};
  return s;
}

Dataset dataset_from_source(const std::string& source) {
  std::error_code ec;
  if (!fs::exists(source, ec)) throw DatasetError(source, 0, "no such file or folder");
  if (!fs::is_directory(source, ec)) return read_manifest(source);
  auto is_slide = [](const std::string& filename) {
    std::string ext = fs::path(filename).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    const auto& sx = slide_suffixes();
    return std::find(sx.begin(), sx.end(), ext) != sx.end();
  };
  Dataset ds = Dataset::create_onetoone(fs::path(source).filename().string(), fs::absolute(source).string(), is_slide);
  if (ds.size() == 0) throw DatasetError(source, 0, "no slides in the folder");
  return ds;
}

}  // namespace pydmed
