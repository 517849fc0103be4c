// TIFF files OpenSlide does not open (striped TIFFs, tiled ones it refuses) through libtiff.
// Opening reads the first directory only; a read decodes just the strips or tiles it touches
// and keeps the last one, so resident memory is about one strip or tile at any image size.
#include <sys/stat.h>
#include <tiffio.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <vector>

#include "pydmed/error.hpp"
#include "slide/argb.hpp"
#include "slide/readers.hpp"
#include "slide/byte_source.hpp"
#include "slide/image_header.hpp"
#include "slide/tiff_log.hpp"

namespace pydmed {
namespace {

// Largest strip or tile decoded at once (256 MiB as ARGB). A TIFF written as one giant strip
// cannot be read in parts; refusing it beats decoding gigabytes to show a few pixels.
constexpr std::int64_t kMaxPiecePixels = std::int64_t{1} << 26;

// libtiff's packed ABGR (TIFFGetR is the low byte) to OpenSlide's ARGB, both premultiplied.
std::uint32_t abgr_to_argb(std::uint32_t p) { return (p & 0xFF00FF00u) | (p & 0xFFu) << 16 | (p >> 16 & 0xFFu); }

// Geometry of the decoding unit: a tile, or a strip of full-width rows.
struct Grid {
  bool tiled = false;
  std::int64_t piece_w = 0, piece_h = 0;
};

class TiffBackend : public SlideBackend {
 public:
  TiffBackend(std::string path, std::unique_ptr<TiffErrors> errors, TiffPtr tif, std::int64_t w, std::int64_t h,
              Grid grid, bool fast_rgb, std::size_t scratch_bytes)
      : path_(std::move(path)),
        errors_(std::move(errors)),
        tif_(std::move(tif)),
        width_(w),
        height_(h),
        grid_(grid),
        fast_rgb_(fast_rgb),
        scratch_bytes_(scratch_bytes) {
    vendor = "tiff";
    levels.push_back({w, h, 1.0});
    // The decoding unit, under OpenSlide's names: read_region_salvage cuts a failed read along it.
    properties["openslide.level[0].tile-width"] = std::to_string(grid.piece_w);
    properties["openslide.level[0].tile-height"] = std::to_string(grid.piece_h);
  }

  cv::Mat read_associated_image(const std::string&, Rgb) const override { return {}; }

  void read_region(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int, std::int64_t w, std::int64_t h,
                   Rgb bg) const override {
    fill_background(rgb, w, 0, 0, w, h, bg);
    const std::int64_t x0 = std::max<std::int64_t>(x, 0), y0 = std::max<std::int64_t>(y, 0);
    const std::int64_t x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
    if (x0 >= x1 || y0 >= y1) return;
    const std::int64_t pw = grid_.piece_w, ph = grid_.piece_h;
    std::lock_guard<std::mutex> lock(mu_);  // one TIFF handle, one cache: reads take turns
    for (std::int64_t pr = y0 / ph; pr <= (y1 - 1) / ph; ++pr) {
      for (std::int64_t pc = x0 / pw; pc <= (x1 - 1) / pw; ++pc) {
        load(pr, pc);
        const std::int64_t cx0 = std::max(x0, pc * pw), cx1 = std::min(x1, pc * pw + pw);
        const std::int64_t cy0 = std::max(y0, pr * ph), cy1 = std::min(y1, pr * ph + ph);
        for (std::int64_t yy = cy0; yy < cy1; ++yy) {
          argb_to_rgb(&cache_[std::size_t((yy - pr * ph) * pw + (cx0 - pc * pw))], rgb + ((yy - y) * w + (cx0 - x)) * 3,
                      std::size_t(cx1 - cx0), bg);
        }
      }
    }
  }

  std::size_t resident_bytes() const override {
    return std::size_t(grid_.piece_w * grid_.piece_h) * 4 + scratch_bytes_;
  }

 private:
  // Decodes piece (row pr, column pc) into cache_ as top-down ARGB of stride piece_w, unless
  // it is the one there already. Called under mu_.
  void load(std::int64_t pr, std::int64_t pc) const {
    if (cached_row_ == pr && cached_col_ == pc) return;
    cached_row_ = cached_col_ = -1;
    const std::int64_t pw = grid_.piece_w, ph = grid_.piece_h;
    const std::int64_t rows = std::min(ph, height_ - pr * ph);  // the last strip is shorter
    cache_.resize(std::size_t(pw * ph));
    TIFF* t = tif_.get();
    errors_->last.clear();
    bool ok;
    if (fast_rgb_) {
      // 8-bit RGB: decode the samples straight into the cache, then widen in place from the
      // back (pixel i's 4 bytes never overwrite the 3 bytes of a pixel not yet widened).
      auto* bytes = reinterpret_cast<std::uint8_t*>(cache_.data());
      const tmsize_t want = tmsize_t(pw * rows * 3);
      ok = grid_.tiled
               ? TIFFReadEncodedTile(t, TIFFComputeTile(t, std::uint32_t(pc * pw), std::uint32_t(pr * ph), 0, 0), bytes,
                                     tmsize_t(pw * ph * 3)) >= want
               : TIFFReadEncodedStrip(t, TIFFComputeStrip(t, std::uint32_t(pr * ph), 0), bytes, want) >= want;
      if (ok) {
        for (std::int64_t i = pw * rows - 1; i >= 0; --i) {
          const std::uint8_t r = bytes[3 * i], g = bytes[3 * i + 1], b = bytes[3 * i + 2];
          cache_[std::size_t(i)] = 0xFF000000u | std::uint32_t(r) << 16 | std::uint32_t(g) << 8 | b;
        }
      }
    } else {
      // Every other photometric and compression through libtiff's RGBA interface, whose
      // rasters are bottom-up: raster row k is piece row (rows - 1 - k), or (ph - 1 - k) for
      // tiles, which always come as a full tile.
      const std::int64_t raster_rows = grid_.tiled ? ph : rows;
      ok = grid_.tiled ? TIFFReadRGBATileExt(t, std::uint32_t(pc * pw), std::uint32_t(pr * ph), cache_.data(), 1)
                       : TIFFReadRGBAStripExt(t, std::uint32_t(pr * ph), cache_.data(), 1);
      if (ok) {
        for (std::int64_t k = 0; k < raster_rows / 2; ++k) {
          std::swap_ranges(&cache_[std::size_t(k * pw)], &cache_[std::size_t(k * pw + pw)],
                           &cache_[std::size_t((raster_rows - 1 - k) * pw)]);
        }
        for (std::int64_t i = 0; i < pw * rows; ++i) cache_[std::size_t(i)] = abgr_to_argb(cache_[std::size_t(i)]);
      }
    }
    if (!ok) {
      const std::string& err = errors_->last;
      const std::string where =
          grid_.tiled ? "the tile at (" + std::to_string(pc * pw) + ", " + std::to_string(pr * ph) + ")"
                      : "the strip of rows " + std::to_string(pr * ph) + "-" + std::to_string(pr * ph + rows - 1);
      throw SlideError(path_, "libtiff could not decode " + where + (err.empty() ? "" : ": " + err));
    }
    cached_row_ = pr, cached_col_ = pc;
  }

  std::string path_;
  std::unique_ptr<TiffErrors> errors_;  // tif_'s, so declared before it: it outlives the handle
  TiffPtr tif_;
  std::int64_t width_, height_;
  Grid grid_;
  bool fast_rgb_;
  std::size_t scratch_bytes_;  // libtiff's own buffers for one piece: compressed and decoded
  mutable std::mutex mu_;
  mutable std::vector<std::uint32_t> cache_;  // the last piece decoded, ARGB, stride piece_w
  mutable std::int64_t cached_row_ = -1, cached_col_ = -1;
};

std::string number(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%.17g", v);
  return s;
}

// The tags Slide::mpp reads, named as OpenSlide names them.
void add_properties(TIFF* t, std::map<std::string, std::string>& props) {
  float xr = 0, yr = 0;
  std::uint16_t unit = RESUNIT_INCH;
  if (TIFFGetField(t, TIFFTAG_XRESOLUTION, &xr)) props["tiff.XResolution"] = number(xr);
  if (TIFFGetField(t, TIFFTAG_YRESOLUTION, &yr)) props["tiff.YResolution"] = number(yr);
  TIFFGetFieldDefaulted(t, TIFFTAG_RESOLUTIONUNIT, &unit);
  props["tiff.ResolutionUnit"] = unit == RESUNIT_CENTIMETER ? "centimeter" : unit == RESUNIT_INCH ? "inch" : "none";
  const char* desc = nullptr;
  if (TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc) props["tiff.ImageDescription"] = desc;
}

// Why the first directory cannot be read in pieces, or "" with `grid` and `scratch` filled.
std::string check_layout(TIFF* t, std::int64_t w, std::int64_t h, std::int64_t file_size, Grid& grid,
                         std::size_t& scratch) {
  std::uint16_t orientation = ORIENTATION_TOPLEFT;
  TIFFGetFieldDefaulted(t, TIFFTAG_ORIENTATION, &orientation);
  if (orientation != ORIENTATION_TOPLEFT) {
    return "orientation " + std::to_string(orientation) + " is not supported (only top-left, 1)";
  }
  std::uint16_t compression = COMPRESSION_NONE;
  TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &compression);
  if (!TIFFIsCODECConfigured(compression)) {
    return "compression " + std::to_string(compression) + " is not built into this libtiff";
  }
  char emsg[1024] = "";
  if (!TIFFRGBAImageOK(t, emsg)) return std::string("cannot convert it to RGB: ") + emsg;
  grid.tiled = TIFFIsTiled(t) != 0;
  if (grid.tiled) {
    std::uint32_t tw = 0, th = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0) return "the tile size is zero";
    grid.piece_w = tw, grid.piece_h = th;
  } else {
    std::uint32_t rps = 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
    grid.piece_w = w, grid.piece_h = std::clamp<std::int64_t>(rps, 1, h);
  }
  const std::int64_t limit = kMaxPiecePixels;
  if (grid.piece_w * grid.piece_h > limit) {
    return std::string("one ") + (grid.tiled ? "tile" : "strip") + " of this TIFF holds " +
           std::to_string(grid.piece_w) + " x " + std::to_string(grid.piece_h) + " pixels, more than the limit of " +
           std::to_string(limit) + " (rewrite it tiled, e.g. vips tiffsave --tile --pyramid)";
  }
  // Every strip or tile must lie inside the file: a cut file fails here, not mid-training.
  const std::uint32_t n = grid.tiled ? TIFFNumberOfTiles(t) : TIFFNumberOfStrips(t);
  std::uint64_t largest = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint64_t off = TIFFGetStrileOffset(t, i), count = TIFFGetStrileByteCount(t, i);
    if (count > 0 && off + count > std::uint64_t(file_size)) {
      return std::string(grid.tiled ? "tile " : "strip ") + std::to_string(i) + " ends at byte " +
             std::to_string(off + count) + ", past the end of the file (" + std::to_string(file_size) +
             " bytes): the file is truncated";
    }
    largest = std::max(largest, count);
  }
  const std::uint64_t decoded = grid.tiled ? TIFFTileSize64(t) : TIFFStripSize64(t);
  scratch = std::size_t(largest + decoded);
  return "";
}

}  // namespace

OpenResult open_with_tiff(const std::string& path) {
  OpenResult r;
  if (sniff_image_kind(path) != ImageKind::kTiff) {
    r.reason = "not a TIFF file";
    return r;
  }
  r.recognised = true;
  const auto file = open_file_source(path);
  const auto first = tiff_first_directory_offset(*file);
  if (first && *first >= file->size()) {  // writers put it last: the usual cut
    r.reason = "the first directory is at byte " + std::to_string(*first) + ", past the end of the file (" +
               std::to_string(file->size()) + " bytes): the file is truncated";
    return r;
  }
  auto errors = std::make_unique<TiffErrors>();
  // "m": no memory map, so a file cut short under a reader gives an error, not SIGBUS.
  TiffPtr tif = open_tiff(path, "rm", errors.get());
  if (!tif) {
    r.reason = errors->last.empty() ? "cannot read the first directory" : errors->last;
    return r;
  }
  TIFF* t = tif.get();
  errors->last.clear();
  TIFFNumberOfDirectories(t);  // walks the chain of directories, which a cut file breaks
  if (!errors->last.empty()) {
    r.reason = "the chain of directories is broken (a truncated file?): " + errors->last;
    return r;
  }
  std::uint32_t w = 0, h = 0;
  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
  if (w == 0 || h == 0) {
    r.reason = "the image size is " + std::to_string(w) + " x " + std::to_string(h);
    return r;
  }
  Grid grid;
  std::size_t scratch = 0;
  if (std::string why = check_layout(t, w, h, file->size(), grid, scratch); !why.empty()) {
    r.reason = why;
    return r;
  }
  std::uint16_t photometric = 0, bits = 0, spp = 0, planar = PLANARCONFIG_CONTIG;
  TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric);
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
  const bool fast_rgb = photometric == PHOTOMETRIC_RGB && bits == 8 && spp == 3 && planar == PLANARCONFIG_CONTIG;
  std::map<std::string, std::string> props;
  add_properties(t, props);
  r.backend = std::make_unique<TiffBackend>(path, std::move(errors), std::move(tif), w, h, grid, fast_rgb, scratch);
  r.backend->properties = std::move(props);
  return r;
}

}  // namespace pydmed
