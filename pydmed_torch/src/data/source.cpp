#include "pydmed/data/source.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "pydmed/data/manifest.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/s3_list.hpp"
#include "slide/image_header.hpp"
#include "slide/readers.hpp"

namespace fs = std::filesystem;

namespace pydmed {

const std::vector<std::string>& slide_suffixes() {
  static const std::vector<std::string> s = {".svs",  ".tif",     ".tiff", ".ndpi", ".vms", ".vmu", ".scn",
                                             ".mrxs", ".svslide", ".bif",  ".png",  ".jpg", ".jpeg", ".dcm"};
  return s;
}

namespace {
bool has_slide_suffix(const std::string& filename) {
  std::string ext = fs::path(filename).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const auto& sx = slide_suffixes();
  return std::find(sx.begin(), sx.end(), ext) != sx.end();
}
// What a folder scan looks at: a slide suffix, or none that says otherwise (a DICOM instance is
// often named without one, or after its UID, whose last part reads as a numeric suffix).
bool may_be_slide(const std::string& filename) {
  const std::string ext = fs::path(filename).extension().string();
  return has_slide_suffix(filename) || ext.empty() ||
         std::all_of(ext.begin() + 1, ext.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A DICOM series is one patient: its folder, where the folder holds that series and no other
// slide; else its widest level's instance file (which opens the whole series too, and names its
// outputs). Instances of another kind, or unreadable ones, stay patients of their own: opening
// them says what they are.
void group_dicom_series(Dataset& ds) {
  using Key = std::pair<std::string, std::string>;  // (folder, series)
  struct Series {
    std::size_t patient = 0, instances = 0;
    std::int64_t widest = -1;  // of its levels so far
  };
  std::vector<Patient> kept;
  std::map<Key, Series> series;
  std::map<std::string, std::size_t> slides_in, series_in;  // per folder
  for (Patient& p : ds.list_patients) {
    const fs::path path = p.record("wsi").path();
    const std::string folder = path.parent_path().string();
    ++slides_in[folder];
    const DicomSeriesMember m = sniff_image_kind(path.string()) == ImageKind::kDicom ? dicom_series_member(path.string())
                                                                                       : DicomSeriesMember{};
    if (m.series_uid.empty()) {
      kept.push_back(std::move(p));
      continue;
    }
    auto [it, first] = series.try_emplace({folder, m.series_uid});
    Series& s = it->second;
    ++s.instances;
    const Record record = p.record("wsi");
    if (first) {
      ++series_in[folder];
      s.patient = kept.size();
      kept.push_back(std::move(p));
    }
    if (m.volume && m.width > s.widest) {  // the series' record: its widest level
      s.widest = m.width;
      kept[s.patient].dict_records["wsi"] = record;
    }
  }
  for (const auto& [key, s] : series) {
    const std::string& folder = key.first;
    // The folder alone names the series when nothing else lies in it.
    if (series_in[folder] != 1 || slides_in[folder] != s.instances) continue;
    Record& r = kept[s.patient].dict_records["wsi"];
    const fs::path dir(folder);
    if (is_url(folder))
      r.rootdir = "", r.relativedir = folder + "/";  // an s3 prefix: a folder by its trailing '/'
    else
      r.rootdir = dir.parent_path().string(), r.relativedir = dir.filename().string();
  }
  for (std::size_t i = 0; i < kept.size(); ++i) kept[i].int_uniqueid = std::int64_t(i);
  ds.list_patients = std::move(kept);
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

namespace {

// A URL: one slide, or the slides under an s3:// prefix (every depth), as a folder is scanned.
Dataset dataset_from_url(const std::string& source) {
  std::string name = url_file_name(source);
  if (source.back() != '/') {
    Patient one;
    one.dict_records["wsi"] = Record{"", source, nlohmann::json::object()};
    return Dataset(fs::path(name).stem().string(), {one});
  }
  if (source.rfind("s3://", 0) != 0)
    throw DatasetError(redact_url(source), 0, "a web server's folder cannot be listed: give a manifest of URLs or an s3:// prefix");
  std::string trimmed = source;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  Dataset ds(url_file_name(trimmed), {});
  for (const auto& [url, size] : remote::list_objects(source)) {
    const std::string file = url_file_name(url);
    if (file.empty() || size == 0) continue;
    if (!may_be_slide(file) || (!has_slide_suffix(file) && sniff_image_kind(url) != ImageKind::kDicom)) continue;
    Patient p;
    p.int_uniqueid = std::int64_t(ds.list_patients.size());
    p.dict_records["wsi"] = Record{"", url, nlohmann::json::object()};
    ds.list_patients.push_back(std::move(p));
  }
  if (ds.list_patients.empty()) throw DatasetError(redact_url(source), 0, "no slides under this prefix");
  group_dicom_series(ds);
  return ds;
}

}  // namespace

Dataset dataset_from_source(const std::string& source, std::vector<std::string>* skipped) {
  if (is_url(source)) return dataset_from_url(source);
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
                                        may_be_slide, nullptr, nullptr, skipped);
  // Files without a slide suffix are slides only when they are DICOM instances.
  ds.list_patients.erase(std::remove_if(ds.list_patients.begin(), ds.list_patients.end(),
                                        [](const Patient& p) {
                                          const std::string path = p.record("wsi").path();
                                          return !has_slide_suffix(path) &&
                                                 sniff_image_kind(path) != ImageKind::kDicom;
                                        }),
                         ds.list_patients.end());
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
  group_dicom_series(ds);
  if (ds.size() == 0) throw DatasetError(source, 0, "no slides in the folder");
  attach_sibling_annotations(ds);
  return ds;
}

}  // namespace pydmed
