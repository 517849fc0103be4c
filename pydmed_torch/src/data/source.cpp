#include "pydmed/data/source.hpp"

#include <algorithm>
#include <filesystem>

#include "pydmed/data/manifest.hpp"
#include "pydmed/error.hpp"
#include "slide/image_header.hpp"

namespace fs = std::filesystem;

namespace pydmed {

const std::vector<std::string>& slide_suffixes() {
  static const std::vector<std::string> s = {".svs",  ".tif",     ".tiff", ".ndpi", ".vms", ".vmu", ".scn",
                                             ".mrxs", ".svslide", ".bif",  ".png",  ".jpg", ".jpeg"};
  return s;
}

namespace {
bool has_slide_suffix(const std::string& filename) {
  std::string ext = fs::path(filename).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const auto& sx = slide_suffixes();
  return std::find(sx.begin(), sx.end(), ext) != sx.end();
}
// <slide name without extension>.geojson beside a slide: its annotations (record info "roi").
void attach_sibling_annotations(Dataset& ds) {
  for (Patient& p : ds.list_patients) {
    for (auto& [name, r] : p.dict_records) {
      if (r.dict_infos.contains("roi")) continue;
      const fs::path slide = fs::absolute(r.path());
      const fs::path roi = slide.parent_path() / (slide.stem().string() + ".geojson");
      std::error_code ec;
      if (fs::is_regular_file(roi, ec)) r.dict_infos["roi"] = roi.string();
    }
  }
}

}  // namespace

bool is_slide_file(const std::string& path) {
  return has_slide_suffix(path) || sniff_image_kind(path) != ImageKind::kUnknown;
}

Dataset dataset_from_source(const std::string& source, std::vector<std::string>* skipped) {
  std::error_code ec;
  if (!fs::exists(source, ec)) throw DatasetError(source, 0, "no such file or folder");
  if (!fs::is_directory(source, ec)) {
    // A pipe or FIFO is a manifest: sniffing it for a slide would consume its first bytes.
    if (fs::is_regular_file(source, ec) && is_slide_file(source)) {  // one slide: one patient
      const fs::path p = fs::absolute(source);
      Patient one;
      one.dict_records["wsi"] = Record{p.parent_path().string(), p.filename().string(), nlohmann::json::object()};
      Dataset ds(p.stem().string(), {one});
      attach_sibling_annotations(ds);
      return ds;
    }
    Dataset ds = read_manifest(source);
    if (ds.size() == 0) throw DatasetError("no patients in " + source);
    return ds;
  }
  Dataset ds = Dataset::create_onetoone(fs::path(source).filename().string(), fs::absolute(source).string(),
                                        has_slide_suffix, nullptr, nullptr, skipped);
  if (ds.size() == 0 && skipped && !skipped->empty()) {  // say why, not only that
    std::string why = skipped->front();
    if (skipped->size() > 1) why += " (and " + std::to_string(skipped->size() - 1) + " more)";
    throw DatasetError(source, 0, "no readable slides in the folder: " + why);
  }
  // The project's own pictures (coverage, heatmaps, tissue masks: marked inside the file, wherever
  // it lies) are not slides, and do not shift the ids of those that are.
  std::vector<Patient> slides;
  for (Patient& p : ds.list_patients) {
    if (is_pydmed_output(p.record("wsi").path())) continue;
    p.int_uniqueid = std::int64_t(slides.size());
    slides.push_back(std::move(p));
  }
  ds.list_patients = std::move(slides);
  if (ds.size() == 0) throw DatasetError(source, 0, "no slides in the folder");
  attach_sibling_annotations(ds);
  return ds;
}

}  // namespace pydmed
