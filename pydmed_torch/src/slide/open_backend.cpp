// The registry: which reader opens a file, and one line saying why none did.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <utility>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/local_copy.hpp"
#include "remote/object.hpp"
#include "slide/readers.hpp"
#include "slide/image_header.hpp"
#include "slide/tiff_log.hpp"

namespace pydmed {
namespace {

// Reject what cannot be a slide before a decoder sees it, with the reason a user can act on.
// Returns whether it is a folder (which only readers of folders are asked about).
bool check_file(const std::string& path) {
  if (is_url(path)) {
    if (path.back() == '/') {
      if (path.rfind("s3://", 0) != 0) throw SlideError(path, "a web server's folder cannot be listed: name an object");
      return true;
    }
    std::string ext = url_file_name(path);
    ext = ext.substr(std::min(ext.size(), ext.rfind('.')));
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (ext == ".mrxs" || ext == ".vms" || ext == ".vmu")
      throw SlideError(path, "a " + ext + " slide is several files, and a URL names one: copy its files to a local folder");
    remote::open_object(path);  // missing, forbidden, unreachable: said here, naming the URL
    return false;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw SlideError(path, errno == ENOENT ? "no such file" : std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    if (::access(path.c_str(), R_OK | X_OK) != 0) throw SlideError(path, std::strerror(errno));
    return true;
  }
  if (!S_ISREG(st.st_mode)) throw SlideError(path, "not a regular file");
  if (st.st_size == 0) throw SlideError(path, "empty file (0 bytes)");
  if (::access(path.c_str(), R_OK) != 0) throw SlideError(path, std::strerror(errno));
  return false;
}

bool any_file(const std::string&) { return true; }
bool is_tiff(const std::string& path) { return sniff_image_kind(path) == ImageKind::kTiff; }

struct Registry {
  std::mutex mu;  // guards entries; open_backend copies them out and opens without it
  std::vector<SlideBackendEntry> entries{
      {"dicom", is_dicom, open_with_dicom, nullptr, true},
      {"tiff", is_tiff, [](const std::string& path) { return open_with_tiff_tiles(path); },
       tiff_tiles_resident_bytes},
      {"openslide", any_file, open_with_openslide, openslide_resident_bytes},
      {"libtiff", any_file, open_with_tiff, tiff_resident_bytes},
      {"opencv", any_file, open_with_opencv, opencv_resident_bytes},
  };
};

Registry& registry() {
  static Registry r;
  return r;
}

// How messages name the built-in readers (what users know them as).
std::string display_name(const std::string& name) {
  if (name == "openslide") return "OpenSlide";
  if (name == "opencv") return "OpenCV";
  if (name == "dicom") return "DICOM";
  return name;
}

}  // namespace

void register_slide_backend(SlideBackendEntry entry, std::size_t position) {
  if (entry.name.empty() || !entry.probe || !entry.open)
    throw Error("register_slide_backend: a reader needs a name, a probe and an opener");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  position = std::min(position, r.entries.size());
  r.entries.insert(r.entries.begin() + std::ptrdiff_t(position), std::move(entry));
}

std::vector<std::string> slide_backend_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto& e : r.entries) names.push_back(e.name);
  return names;
}

namespace {
std::vector<SlideBackendEntry> entries_now() {  // copied out: readers run without the lock
  std::lock_guard<std::mutex> lock(registry().mu);
  return registry().entries;
}
}  // namespace

std::size_t estimate_resident_bytes(const std::string& path) {
  silence_libtiff();
  if (is_url(path)) {  // the project's own readers, from the headers; never a whole copy here
    try {
      if (is_dicom(path))
        if (OpenResult r = open_with_dicom(path); r.backend) return r.backend->resident_bytes();
      if (is_tiff(path))
        if (OpenResult r = open_with_tiff_tiles(path, /*quickhash=*/false); r.backend) return r.backend->resident_bytes();
    } catch (const std::exception&) {  // opening it will say why
    }
    return kOpenSlideCacheBytes;  // OpenSlide's, on a copy made when a loader opens it
  }
  std::error_code ec;
  const bool folder = std::filesystem::is_directory(path, ec);
  for (const auto& e : entries_now()) {
    if (folder && !e.folders) continue;
    try {  // a reader that throws here is asked again, and says why, when the slide is opened
      if (!e.probe(path)) continue;
      if (e.resident_bytes) {
        if (const auto bytes = e.resident_bytes(path)) return *bytes;
        continue;
      }
      if (OpenResult r = e.open(path); r.backend) return r.backend->resident_bytes();
    } catch (const std::exception&) {
    }
  }
  return kOpenSlideCacheBytes;  // a file no reader takes fails to open, holding nothing more
}

std::unique_ptr<SlideBackend> open_backend(const std::string& path, const std::string& only) {
  const bool folder = check_file(path);
  silence_libtiff();  // OpenSlide reads TIFFs through libtiff too
  std::vector<SlideBackendEntry> entries = entries_now();
  if (folder) {
    entries.erase(std::remove_if(entries.begin(), entries.end(), [](const auto& e) { return !e.folders; }),
                  entries.end());
  }
  if (!only.empty()) {
    entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const auto& e) { return e.name != only; }),
                  entries.end());
    if (entries.empty()) throw SlideError(path, "no reader named '" + only + "'");
  }
  std::string reasons;
  bool recognised = false;
  std::string local;  // a URL's whole copy, for the readers that read only local files
  for (const auto& e : entries) {
    const bool files_only = e.name == "openslide" || e.name == "libtiff" || e.name == "opencv";
    if (is_url(path) && files_only && local.empty()) {
      if (folder) continue;
      local = remote::local_copy(path);
    }
    const std::string& where = is_url(path) && files_only ? local : path;
    if (!e.probe(where)) continue;
    OpenResult r = e.open(where);
    if (r.backend && !r.backend->levels.empty()) {
      r.backend->reader = e.name;
      return std::move(r.backend);
    }
    if (r.backend) r.reason = "the slide has no levels";
    if (!r.reason.empty()) reasons += (reasons.empty() ? "" : "; ") + display_name(e.name) + ": " + r.reason;
    recognised = recognised || r.recognised;
    if (r.final) break;
  }
  if (!only.empty() && reasons.empty()) reasons = display_name(only) + ": not a file it reads";
  if (folder && reasons.empty()) throw SlideError(path, "is a directory, not a slide");
  throw SlideError(path, (recognised ? "cannot open: " : "unsupported format: ") + reasons);
}

}  // namespace pydmed
