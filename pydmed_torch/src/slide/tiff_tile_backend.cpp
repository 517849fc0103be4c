// The exact tile reader: Aperio and generic-tiff JPEG pyramids decoded tile by tile with
// libjpeg(-turbo) set up as OpenSlide 3.4.1 sets it up for them, but straight into RGB: no
// ARGB, no cairo compositing, no cache, no libtiff handle (tiles are pread by offset, so reads
// from many threads share one file descriptor). A region at a whole pixel of its level is a
// copy of tile pixels in OpenSlide too, so the bytes are the same; any other position (on a
// level whose downsample is not a whole number) and the associated images go to OpenSlide.
//
// Missing tiles (a byte count of 0) are the background. OpenSlide 3.4.1 paints Aperio's
// transparent (Aperio files with any are left to it, as it also repaints their neighbours from
// the level above), but fails the read on a generic TIFF; this reader serves the background
// there, as OpenSlide 4 does.
#include <openslide/openslide.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/local_copy.hpp"
#include "slide/readers.hpp"
#include "slide/tiff_pyramid.hpp"
#include "slide/tile_grid.hpp"

namespace pydmed {
namespace {

class TiffTileBackend : public TileGridBackend {
 public:
  TiffTileBackend(std::string path, TiffPyramid p, std::shared_ptr<const ByteSource> file)
      : TileGridBackend(std::move(p.tiff_levels), {std::move(file)}), path_(std::move(path)) {
    vendor = p.vendor;
    levels = std::move(p.levels);
    properties = std::move(p.properties);
    associated_ = std::move(p.associated);
  }

  std::vector<std::string> associated_image_names() const override { return associated_; }
  cv::Mat read_associated_image(const std::string& name, Rgb bg) const override {
    return openslide().read_associated_image(name, bg);
  }

  void read_region(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level, std::int64_t w, std::int64_t h,
                   Rgb bg) const override {
    // OpenSlide paints level pixel x / downsample: a whole number is a plain copy of tile pixels,
    // anything else is resampled by cairo, which only OpenSlide reproduces.
    const double ds = levels[std::size_t(level)].downsample;
    const double lx = double(x) / ds, ly = double(y) / ds;
    if (lx != std::floor(lx) || ly != std::floor(ly) || !whole_pieces(ds, w, h))
      return openslide().read_region(rgb, x, y, level, w, h, bg);
    read_grid(rgb, std::int64_t(lx), std::int64_t(ly), level, w, h, bg);
  }

  // What reading holds: the grid's tables and decoders, and OpenSlide's cache once it is open or
  // where a level's downsample is not whole (reads there go to it). Associated images and reads
  // between pixels open it too, beyond this bound.
  std::size_t resident_bytes() const override {
    bool needs_openslide = false;
    for (const LevelInfo& l : levels) needs_openslide = needs_openslide || l.downsample != std::floor(l.downsample);
    {
      std::lock_guard<std::mutex> lock(openslide_mu_);
      needs_openslide = needs_openslide || openslide_;
    }
    return grid_resident_bytes() + (needs_openslide ? kOpenSlideCacheBytes : 0);
  }

 private:
  // OpenSlide paints a region in pieces of 4096 x 4096 pixels of the level, the later ones at
  // level-0 x + 4096 * k * downsample: a whole pixel of the level only where the downsample is.
  static bool whole_pieces(double ds, std::int64_t w, std::int64_t h) {
    constexpr std::int64_t kPiece = 4096;  // openslide.c read_region's d
    return ds == std::floor(ds) || (w <= kPiece && h <= kPiece);
  }

  // OpenSlide on the same file, opened on first need.
  const SlideBackend& openslide() const {
    std::lock_guard<std::mutex> lock(openslide_mu_);
    if (!openslide_) {
      OpenResult r = open_with_openslide(is_url(path_) ? remote::local_copy(path_) : path_);
      if (!r.backend) throw SlideError(path_, "OpenSlide, needed for this read, cannot open it: " + r.reason);
      openslide_ = std::move(r.backend);
    }
    return *openslide_;
  }

  std::string path_;
  std::vector<std::string> associated_;
  mutable std::mutex openslide_mu_;  // guards the creation of openslide_ (OpenSlide reads are thread-safe)
  mutable std::unique_ptr<SlideBackend> openslide_;
};

}  // namespace

OpenResult open_with_tiff_tiles(const std::string& path, bool quickhash) {
  OpenResult r;
  // OpenSlide's own detection decides the vendor, so every other TIFF-based vendor (NDPI,
  // Philips, Ventana, Leica, Trestle) stays OpenSlide's; a URL, which OpenSlide cannot open,
  // is detected by OpenSlide's rules from its headers.
  std::shared_ptr<const ByteSource> file;
  std::string vendor;
  try {
    if (is_url(path)) {
      file = open_source(path);
      vendor = detect_tiff_vendor(file);
    } else {
      const char* v = openslide_detect_vendor(path.c_str());
      vendor = v ? v : "";
      if (vendor == "aperio" || vendor == "generic-tiff") file = open_file_source(path);
    }
  } catch (const RemoteError&) {
    throw;  // the store's answer, not the file's
  } catch (const SlideError&) {
    return r;  // OpenSlide (on a local copy, for a URL) says why
  }
  if (vendor != "aperio" && vendor != "generic-tiff") return r;
  TiffPyramid p;
  if (!read_tiff_pyramid(file, vendor, quickhash, p).empty()) return r;  // not exact here: OpenSlide's, quietly
  r.recognised = true;
  r.backend = std::make_unique<TiffTileBackend>(path, std::move(p), std::move(file));
  return r;
}

}  // namespace pydmed
