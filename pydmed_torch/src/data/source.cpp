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
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(source, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    const auto& sx = slide_suffixes();
    if (std::find(sx.begin(), sx.end(), ext) != sx.end()) files.push_back(fs::relative(it->path(), source).string());
  }
  if (ec) throw DatasetError(source, 0, "cannot scan: " + ec.message());
  if (files.empty()) throw DatasetError(source, 0, "no slides in the folder");
  std::sort(files.begin(), files.end());
  std::vector<Patient> patients;
  for (std::size_t i = 0; i < files.size(); ++i) {
    Patient p;
    p.int_uniqueid = std::int64_t(i);
    p.dict_records["wsi"] = Record{fs::absolute(source).string(), files[i], nlohmann::json::object()};
    patients.push_back(std::move(p));
  }
  return Dataset(fs::path(source).filename().string(), std::move(patients));
}

}  // namespace pydmed
