// Slide::resident_bytes_estimate: what a slide will hold once a loader opens it, from its
// header alone, so that memory admission can count it for a whole dataset in milliseconds.
// The rules are the backends' (backend.hpp), applied without opening a backend.
#include <openslide/openslide.h>
#include <tiffio.h>

#include <algorithm>

#include "pydmed/slide/slide.hpp"
#include "slide/backend.hpp"
#include "slide/image_header.hpp"
#include "slide/tiff_log.hpp"

namespace pydmed {

namespace {
// A PNG or JPEG decoded whole; one over the limit is refused at open and holds nothing.
std::size_t decoded_whole(const std::optional<ImageSize>& s) {
  if (!s || s->width <= 0 || s->height <= 0 || s->width * s->height > kMaxImagePixels) return 0;
  return std::size_t(s->width) * std::size_t(s->height) * 3;
}

// A TIFF OpenSlide takes (every vendor's, NDPI's one-strip levels included) holds its cache;
// any other goes to the libtiff backend, which holds one strip or tile as ARGB and libtiff's
// buffers for it (a piece over the limit is refused at open).
std::size_t tiff_bytes(const std::string& path) {
  if (openslide_detect_vendor(path.c_str())) return kOpenSlideCacheBytes;
  silence_libtiff();
  TiffErrors errors;
  const TiffPtr t = open_tiff(path, "rm", &errors);  // not mapped: a truncated file must not SIGBUS
  if (!t) return 0;
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
  const std::int64_t piece = std::int64_t(pw) * ph;
  return piece > kMaxPiecePixels ? 0 : std::size_t(piece) * 4 * 2;
}
}  // namespace

std::size_t Slide::resident_bytes_estimate(const std::string& path) {
  switch (sniff_image_kind(path)) {
    case ImageKind::kPng:
      return decoded_whole(png_size(path));
    case ImageKind::kJpeg:
      return decoded_whole(jpeg_size(path));
    case ImageKind::kTiff:
      return tiff_bytes(path);
    default:
      return kOpenSlideCacheBytes;  // another vendor's format, or a file that will fail to open
  }
}

}  // namespace pydmed
