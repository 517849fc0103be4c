// Slide::resident_bytes_estimate: what a slide will hold once a loader opens it, from its
// header alone, so that memory admission can count it for a whole dataset in milliseconds.
// The number is the backend's own (SlideBackend::resident_bytes), from the openers that read
// headers only: the tile reader's, libtiff's for TIFFs OpenSlide does not take, OpenCV's for PNG and JPEG (which
// decode on the first read, not at open).
#include <openslide/openslide.h>

#include "pydmed/slide/slide.hpp"
#include "slide/backend.hpp"
#include "slide/image_header.hpp"

namespace pydmed {

namespace {
// 0 for a file the opener refuses: its open fails on its own, holding nothing.
std::size_t held_by(const OpenResult& r) { return r.backend ? r.backend->resident_bytes() : 0; }
}  // namespace

std::size_t Slide::resident_bytes_estimate(const std::string& path) {
  switch (sniff_image_kind(path)) {
    case ImageKind::kPng:
    case ImageKind::kJpeg:
      return held_by(open_with_opencv(path));
    case ImageKind::kTiff:
      if (OpenResult r = open_with_tiff_tiles(path, false); r.backend) return held_by(r);
      // Every other vendor OpenSlide detects (NDPI's one-strip levels included) holds its cache.
      if (openslide_detect_vendor(path.c_str())) return kOpenSlideCacheBytes;
      return held_by(open_with_tiff(path));
    default:
      return kOpenSlideCacheBytes;  // another vendor's format, or a file that will fail to open
  }
}

}  // namespace pydmed
