// The DICOM reader: a whole-slide image series (Supplement 145) opened from any of its instance
// files or from its folder. Levels are the series' VOLUME instances, largest first (one per
// size); LABEL, OVERVIEW and THUMBNAIL instances are the associated images "label", "macro" and
// "thumbnail" (OpenSlide 4's names). Frames are read by range and decoded by the tile grid.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <system_error>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/s3_list.hpp"
#include "slide/dicom_instance.hpp"
#include "slide/readers.hpp"

namespace fs = std::filesystem;

namespace pydmed {

namespace {

const char* associated_name(const std::string& flavor) {
  if (flavor == "LABEL") return "label";
  if (flavor == "OVERVIEW") return "macro";
  if (flavor == "THUMBNAIL") return "thumbnail";
  return nullptr;
}

class DicomBackend : public TileGridBackend {
 public:
  DicomBackend(std::vector<TileLevel> grid, std::vector<std::shared_ptr<const ByteSource>> files,
               std::map<std::string, std::size_t> associated)
      : TileGridBackend(std::move(grid), std::move(files)), associated_(std::move(associated)) {}

  std::vector<std::string> associated_image_names() const override {
    std::vector<std::string> names;
    for (const auto& [name, index] : associated_) names.push_back(name);
    return names;
  }
  cv::Mat read_associated_image(const std::string& name, Rgb bg) const override {
    const std::size_t index = associated_.at(name);
    const TileLevel& L = grid()[index];
    cv::Mat out(int(L.height), int(L.width), CV_8UC3);
    read_grid(out.data, 0, 0, int(index), L.width, L.height, bg);
    return out;
  }
  void read_region(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level, std::int64_t w, std::int64_t h,
                   Rgb bg) const override {
    // Level pixels, as the other readers take them: level-0 position over the downsample.
    const double ds = levels[std::size_t(level)].downsample;
    read_grid(rgb, std::int64_t(std::floor(double(x) / ds)), std::int64_t(std::floor(double(y) / ds)), level, w, h,
              bg);
  }
  std::size_t resident_bytes() const override { return grid_resident_bytes(); }

 private:
  std::map<std::string, std::size_t> associated_;  // name -> its grid index (after the levels)
};

// A folder: a local one, or an s3:// prefix ending in '/'.
bool is_folder(const std::string& path) {
  std::error_code ec;
  return is_url(path) ? path.back() == '/' && path.rfind("s3://", 0) == 0 : fs::is_directory(path, ec);
}

// The DICOM files of a folder, sorted (names with or without .dcm: the signature decides).
std::vector<std::string> dicom_files_in(const std::string& dir) {
  std::vector<std::string> candidates;
  if (is_url(dir)) {
    for (const auto& [url, size] : remote::list_objects(dir))
      if (size > 132 && url.find('/', dir.size()) == std::string::npos) candidates.push_back(url);  // not deeper
  } else {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::error_code e2;
      if (entry.is_regular_file(e2)) candidates.push_back(entry.path().string());
    }
  }
  std::vector<std::string> out;
  for (const std::string& f : candidates) {
    try {
      if (has_dicom_signature(*open_source(f))) out.push_back(f);
    } catch (const RemoteError&) {
      throw;  // a series missing an instance because the store did not answer would be wrong
    } catch (const SlideError&) {
      // unreadable: not ours to judge unless it is the file asked for
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The files beside an instance: its folder's, its s3 prefix's; an http(s) instance stands alone
// (a web server cannot be listed).
std::vector<std::string> siblings(const std::string& path) {
  if (!is_url(path)) return dicom_files_in(fs::absolute(path).parent_path().string());
  if (path.rfind("s3://", 0) == 0) return dicom_files_in(path.substr(0, path.rfind('/') + 1));
  return {path};
}

struct Series {
  std::vector<DicomInstance> instances;
  std::string error;  // the first instance of it that cannot be read, with the file and why
};

// The series `path` names (a file: its series; a folder: its only series) among `files`, the
// DICOM files of the folder or beside the file.
Series gather(const std::string& path, const std::vector<std::string>& files, bool folder) {
  Series s;
  std::string want;
  std::optional<DicomInstance> first;  // the file asked for, read once
  if (!folder) {
    first.emplace();
    if (std::string why = read_dicom_instance(open_source(path), &*first); !why.empty()) {
      s.error = why;
      return s;
    }
    want = first->series_uid;
  }
  std::vector<std::string> series_seen;
  for (const std::string& f : files) {
    DicomInstance in;
    std::error_code ec;
    const bool asked = first && (is_url(path) ? f == path : fs::equivalent(f, path, ec));
    const std::string why = asked ? "" : read_dicom_instance(open_source(f), &in);
    if (asked) in = std::move(*first), first.reset();
    if (!in.sop_class.empty() && !is_wsi_sop_class(in.sop_class)) continue;  // another kind of DICOM beside the slide
    if (in.series_uid.empty()) {  // cannot tell its series: it may be ours
      s.error = f + ": " + (why.empty() ? "no SeriesInstanceUID" : why);
      return s;
    }
    if (folder && want.empty()) want = in.series_uid;
    if (std::find(series_seen.begin(), series_seen.end(), in.series_uid) == series_seen.end())
      series_seen.push_back(in.series_uid);
    if (in.series_uid != want) continue;
    if (!why.empty()) {
      s.error = f + ": " + why;
      return s;
    }
    s.instances.push_back(std::move(in));
  }
  if (folder && series_seen.size() > 1)
    s.error = "holds " + std::to_string(series_seen.size()) + " slide series: open one of their instance files";
  else if (folder && series_seen.empty())
    s.error = "a folder without DICOM whole-slide instances";
  return s;
}

OpenResult open_series(const std::string& path, const std::vector<std::string>& candidates, bool folder) {
  OpenResult r;
  r.recognised = true, r.final = true;  // a DICOM: no other reader may take it (OpenCV would open a frame)
  Series s = gather(path, candidates, folder);
  if (!s.error.empty()) {
    r.reason = s.error;
    return r;
  }
  std::vector<DicomInstance> volumes;
  std::map<std::string, std::size_t> associated;
  std::vector<TileLevel> extra;
  std::vector<std::shared_ptr<const ByteSource>> extra_files;
  for (DicomInstance& in : s.instances) {
    if (in.flavor == "VOLUME") {
      const bool same_size = std::any_of(volumes.begin(), volumes.end(),
                                         [&](const DicomInstance& v) { return v.width == in.width && v.height == in.height; });
      if (!same_size) volumes.push_back(std::move(in));  // the first of a size (files sorted by name)
    } else if (const char* name = associated_name(in.flavor); name && !associated.count(name)) {
      associated[name] = extra.size();
      extra.push_back(in.tiles);
      extra_files.push_back(in.source);
    }
  }
  if (volumes.empty()) {
    r.reason = "a DICOM series without VOLUME instances (no levels)";
    return r;
  }
  std::stable_sort(volumes.begin(), volumes.end(),
                   [](const DicomInstance& a, const DicomInstance& b) { return a.width > b.width; });
  std::vector<TileLevel> grid;
  std::vector<std::shared_ptr<const ByteSource>> files;
  for (DicomInstance& v : volumes) {
    grid.push_back(v.tiles);
    grid.back().file = files.size();
    files.push_back(v.source);
  }
  const std::size_t n = grid.size();
  for (auto& [name, index] : associated) {
    extra[index].file = files.size() + index;
    index += n;
  }
  grid.insert(grid.end(), extra.begin(), extra.end());
  files.insert(files.end(), extra_files.begin(), extra_files.end());
  std::vector<LevelInfo> levels;
  std::map<std::string, std::string> props = volumes[0].properties;
  if (std::string why = pyramid_levels(grid, n, &levels, &props); !why.empty()) {
    r.reason = why;
    return r;
  }
  props["openslide.vendor"] = "dicom";
  if (volumes[0].mpp_x) props["openslide.mpp-x"] = format_double(*volumes[0].mpp_x);
  if (volumes[0].mpp_y) props["openslide.mpp-y"] = format_double(*volumes[0].mpp_y);
  if (auto it = props.find("dicom.ObjectiveLensPower"); it != props.end()) props["openslide.objective-power"] = it->second;
  auto backend = std::make_unique<DicomBackend>(std::move(grid), std::move(files), std::move(associated));
  backend->vendor = "dicom";
  backend->levels = std::move(levels);
  backend->properties = std::move(props);
  r.backend = std::move(backend);
  return r;
}

}  // namespace

bool is_dicom(const std::string& path) {
  if (is_folder(path)) return true;  // a series' folder: open_with_dicom looks inside
  try {
    return has_dicom_signature(*open_source(path));
  } catch (const RemoteError&) {
    throw;
  } catch (const SlideError&) {
    return false;
  }
}

DicomSeriesMember dicom_series_member(const std::string& path) {
  DicomInstance in;
  try {
    read_dicom_instance(open_source(path), &in);
  } catch (const std::exception&) {  // unreadable: opening it will say why
    return {};
  }
  if (!is_wsi_sop_class(in.sop_class)) return {};
  return {in.series_uid, in.flavor == "VOLUME", in.width};
}

OpenResult open_with_dicom(const std::string& path) {
  const bool folder = is_folder(path);
  // A folder's files, listed once (a listing of an s3 prefix is a request a page).
  const std::vector<std::string> in_folder = folder ? dicom_files_in(path) : std::vector<std::string>();
  if (folder && in_folder.empty()) return {};  // a folder, not a series: the registry says so
  try {
    return open_series(path, folder ? in_folder : siblings(path), folder);
  } catch (const std::exception& e) {  // a file of the series vanished or cannot be read, or memory ran out
    OpenResult r;
    r.recognised = true, r.final = true, r.reason = e.what();
    return r;
  }
}

}  // namespace pydmed
