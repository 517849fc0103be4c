// The built-in readers' memory estimates (SlideBackendEntry::resident_bytes): what a slide
// will hold once a loader opens it, from its header alone, so that memory admission can count
// it for a whole dataset in milliseconds. The number is the backend's own
// (SlideBackend::resident_bytes), from the openers that read headers only; PNG and JPEG decode
// on the first read, not at open.
#include <openslide/openslide.h>

#include "slide/image_header.hpp"
#include "slide/readers.hpp"

namespace pydmed {

namespace {
std::optional<std::size_t> held_by(const OpenResult& r) {
  if (!r.backend) return std::nullopt;  // refused: the next reader is asked
  return r.backend->resident_bytes();
}
bool is_tiff(const std::string& path) { return sniff_image_kind(path) == ImageKind::kTiff; }
}  // namespace

std::optional<std::size_t> tiff_tiles_resident_bytes(const std::string& path) {
  return held_by(open_with_tiff_tiles(path, /*quickhash=*/false));
}

// Every vendor OpenSlide detects (NDPI's one-strip levels included) holds its cache.
std::optional<std::size_t> openslide_resident_bytes(const std::string& path) {
  if (!openslide_detect_vendor(path.c_str())) return std::nullopt;
  return kOpenSlideCacheBytes;
}

std::optional<std::size_t> tiff_resident_bytes(const std::string& path) {
  return is_tiff(path) ? held_by(open_with_tiff(path)) : std::nullopt;
}

std::optional<std::size_t> opencv_resident_bytes(const std::string& path) {
  const ImageKind kind = sniff_image_kind(path);
  if (kind != ImageKind::kPng && kind != ImageKind::kJpeg) return std::nullopt;
  return held_by(open_with_opencv(path));
}

}  // namespace pydmed
