// Slide::resident_bytes_estimate: what a slide will hold once a loader opens it, from its
// header alone, so that memory admission can count it for a whole dataset in milliseconds.
#include <tiffio.h>

#include <algorithm>

#include "pydmed/slide/slide.hpp"
#include "slide/image_header.hpp"
#include "slide/tiff_log.hpp"

namespace pydmed {

namespace {
constexpr std::size_t kOpenSlideCache = std::size_t{32} << 20;  // _OPENSLIDE_USEFUL_CACHE_SIZE, per handle
constexpr std::size_t kMaxDecodedWhole = (std::size_t{1} << 28) * 3;  // OpenCV's limit, see opencv_backend.cpp

std::size_t size_bytes(const std::optional<ImageSize>& s) {
  if (!s || s->width <= 0 || s->height <= 0) return kOpenSlideCache;
  return std::min(std::size_t(s->width) * std::size_t(s->height) * 3, kMaxDecodedWhole);
}

// The largest strip or tile of the first directory as ARGB, twice (the decoded piece and
// libtiff's buffers for it), or OpenSlide's cache if that is more: whichever backend reads it.
std::size_t tiff_bytes(const std::string& path) {
  silence_libtiff();
  TiffErrors errors;
  const TiffPtr t = open_tiff(path, "r", &errors);
  if (!t) return kOpenSlideCache;
  std::uint32_t w = 0, h = 0, pw = 0, ph = 0;
  TIFFGetField(t.get(), TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(t.get(), TIFFTAG_IMAGELENGTH, &h);
  if (TIFFIsTiled(t.get())) {
    TIFFGetField(t.get(), TIFFTAG_TILEWIDTH, &pw);
    TIFFGetField(t.get(), TIFFTAG_TILELENGTH, &ph);
  } else {
    pw = w;
    if (!TIFFGetField(t.get(), TIFFTAG_ROWSPERSTRIP, &ph) || ph > h) ph = h;
  }
  const std::size_t piece = std::min<std::size_t>(std::size_t(pw) * ph, std::size_t{1} << 26) * 4 * 2;
  return std::max(kOpenSlideCache, piece);
}
}  // namespace

std::size_t Slide::resident_bytes_estimate(const std::string& path) {
  switch (sniff_image_kind(path)) {
    case ImageKind::kPng:
      return size_bytes(png_size(path));
    case ImageKind::kJpeg:
      return size_bytes(jpeg_size(path));
    case ImageKind::kTiff:
      return tiff_bytes(path);
    default:
      return kOpenSlideCache;
  }
}

}  // namespace pydmed
