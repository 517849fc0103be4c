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
#include <fcntl.h>
#include <openslide/openslide.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "file_descriptor.hpp"
#include "pydmed/error.hpp"
#include "slide/argb.hpp"
#include "slide/readers.hpp"
#include "slide/jpeg_tile_decoder.hpp"
#include "slide/tiff_pyramid.hpp"

namespace pydmed {
namespace {
using detail::FileDescriptor;

// libjpeg's state beside a decoder's buffers: a bound, not a measure.
constexpr std::size_t kDecoderOverheadBytes = std::size_t{256} << 10;

// What one thread decodes with: libjpeg's decompressor and the buffers of one tile, kept from
// read to read. A thread holds a decoder alone; idle decoders wait in the pool.
struct TileDecoder {
  JpegTileDecoder jpeg;
  std::vector<std::uint8_t> raw;    // the compressed tile
  std::vector<std::uint8_t> tile;   // a decoded tile whose part the region takes
  std::vector<std::uint8_t*> rows;  // where libjpeg writes each row
};

struct TileJob {
  std::int64_t col, row;
};

class TiffTileBackend : public SlideBackend {
 public:
  TiffTileBackend(std::string path, TiffPyramid p, FileDescriptor fd)
      : path_(std::move(path)), pyramid_(std::move(p)), fd_(std::move(fd)) {
    // The base holds them; the pyramid keeps what reading needs (its tile_levels).
    vendor = pyramid_.vendor;
    levels = std::move(pyramid_.levels);
    properties = std::move(pyramid_.properties);
  }

  std::vector<std::string> associated_image_names() const override { return pyramid_.associated; }
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
    const TiffLevel& L = pyramid_.tiff_levels[std::size_t(level)];
    const std::int64_t X = std::int64_t(lx), Y = std::int64_t(ly);
    const std::int64_t x0 = std::max<std::int64_t>(X, 0), y0 = std::max<std::int64_t>(Y, 0);
    const std::int64_t x1 = std::min(X + w, L.width), y1 = std::min(Y + h, L.height);
    if (x0 > X || y0 > Y || x1 < X + w || y1 < Y + h)
      fill_background(rgb, w, 0, 0, w, h, bg);  // part lies outside the level
    if (x0 >= x1 || y0 >= y1) return;
    std::vector<TileJob> jobs;
    for (std::int64_t r = y0 / L.tile_height; r <= (y1 - 1) / L.tile_height; ++r)
      for (std::int64_t c = x0 / L.tile_width; c <= (x1 - 1) / L.tile_width; ++c) jobs.push_back({c, r});
    const Target target{rgb, X, Y, w, h, x0, y0, x1, y1, bg};
    const std::size_t threads =
        std::min<std::size_t>(std::size_t(decode_threads_.load(std::memory_order_relaxed)), jobs.size());
    if (threads <= 1) return decode(level, jobs, 0, jobs.size(), target);
    // Threads started per read, not pooled: a BigChunk read takes tens of milliseconds, a thread
    // start tens of microseconds, and an idle pool would sit in every loader process. A part
    // whose thread cannot start is decoded here.
    std::vector<std::exception_ptr> errors(threads);
    std::vector<std::thread> pool;
    std::vector<std::size_t> here{0};
    auto part = [&](std::size_t i) {
      try {
        decode(level, jobs, jobs.size() * i / threads, jobs.size() * (i + 1) / threads, target);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    };
    for (std::size_t i = 1; i < threads; ++i) {
      try {
        pool.emplace_back(part, i);
      } catch (const std::system_error&) {
        here.push_back(i);
      }
    }
    for (std::size_t i : here) part(i);
    for (auto& t : pool) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

  // What reading holds: the tile tables (16 bytes a tile), a decoder with the largest level's
  // buffers per thread decoding at once (decode threads, or more threads reading at once), and
  // OpenSlide's cache once it is open or where a level's downsample is not whole (reads there
  // go to it). Associated images and reads between pixels open it too, beyond this bound.
  std::size_t resident_bytes() const override {
    std::size_t tables = 0, per_decoder = 0;
    bool needs_openslide = false;
    for (std::size_t i = 0; i < levels.size(); ++i) {
      const TiffLevel& L = pyramid_.tiff_levels[i];
      tables += 16 * L.offsets.size() + L.jpeg_tables.size();
      per_decoder = std::max(
          per_decoder, std::size_t(L.tile_width * L.tile_height * 3 + L.largest_tile_bytes) + kDecoderOverheadBytes);
      needs_openslide = needs_openslide || levels[i].downsample != std::floor(levels[i].downsample);
    }
    std::size_t decoders = std::size_t(decode_threads_.load(std::memory_order_relaxed));
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      decoders = std::max(decoders, decoders_made_);
    }
    {
      std::lock_guard<std::mutex> lock(openslide_mu_);
      needs_openslide = needs_openslide || openslide_;
    }
    return tables + per_decoder * decoders + (needs_openslide ? kOpenSlideCacheBytes : 0);
  }

  // Relaxed: a read started before the change may use either count.
  void set_decode_threads(int threads) override {
    decode_threads_.store(std::max(1, threads), std::memory_order_relaxed);
  }

 private:
  // OpenSlide paints a region in pieces of 4096 x 4096 pixels of the level, the later ones at
  // level-0 x + 4096 * k * downsample: a whole pixel of the level only where the downsample is.
  static bool whole_pieces(double ds, std::int64_t w, std::int64_t h) {
    constexpr std::int64_t kPiece = 4096;  // openslide.c read_region's d
    return ds == std::floor(ds) || (w <= kPiece && h <= kPiece);
  }

  // Where a read's pixels go: level pixel (X, Y) is rgb[0]; only [x0, x1) x [y0, y1) is in the level.
  struct Target {
    std::uint8_t* rgb;
    std::int64_t X, Y, w, h, x0, y0, x1, y1;
    Rgb bg;
  };

  // Decodes jobs [begin, end) with one decoder and puts each tile's part of the region in place.
  void decode(int level, const std::vector<TileJob>& jobs, std::size_t begin, std::size_t end, const Target& t) const {
    const TiffLevel& L = pyramid_.tiff_levels[std::size_t(level)];
    // Back to the pool however this ends (a damaged tile throws): the decoder holds no state
    // between tiles, and the pool stays the size of the most threads decoding at once.
    struct Lease {
      const TiffTileBackend* owner;
      std::unique_ptr<TileDecoder> d;
      ~Lease() { owner->release(std::move(d)); }
    } lease{this, acquire()};
    TileDecoder* d = lease.d.get();
    const std::size_t tile_row_bytes = std::size_t(L.tile_width) * 3;
    d->tile.resize(tile_row_bytes * std::size_t(L.tile_height));
    d->rows.resize(std::size_t(L.tile_height));
    for (std::size_t j = begin; j < end; ++j) {
      const auto [c, r] = jobs[j];
      const std::int64_t tx = c * L.tile_width, ty = r * L.tile_height;
      const std::int64_t cx0 = std::max(t.x0, tx), cx1 = std::min(t.x1, tx + L.tile_width);
      const std::int64_t cy0 = std::max(t.y0, ty), cy1 = std::min(t.y1, ty + L.tile_height);
      const auto index = std::size_t(r * L.tiles_across + c);
      const std::uint64_t bytes = L.byte_counts[index];
      // A tile never written: transparent, so the background (see open_with_tiff_tiles).
      if (bytes == 0) {
        fill_background(t.rgb, t.w, cx0 - t.X, cy0 - t.Y, cx1 - cx0, cy1 - cy0, t.bg);
        continue;
      }
      auto where = [&] {
        return "the tile at level " + std::to_string(level) + " pixel (" + std::to_string(tx) + ", " +
               std::to_string(ty) + ")";
      };
      d->raw.resize(bytes);
      const ssize_t got = ::pread(fd_.get(), d->raw.data(), bytes, off_t(L.offsets[index]));
      if (got != ssize_t(bytes)) {
        throw SlideError(path_, "cannot read " + where() + ": " +
                                    (got < 0 ? std::strerror(errno) : "the file ends before it (truncated?)"));
      }
      // Rows the region takes whole go straight to their place; a tile cut by the region's
      // sides decodes into the tile buffer and is copied.
      const bool whole_rows = cx0 == tx && cx1 == tx + L.tile_width;
      for (std::int64_t i = 0; i < L.tile_height; ++i) {
        const std::int64_t yy = ty + i;
        d->rows[std::size_t(i)] = whole_rows && yy >= cy0 && yy < cy1
                                      ? t.rgb + ((yy - t.Y) * t.w + (tx - t.X)) * 3
                                      : d->tile.data() + std::size_t(i) * tile_row_bytes;
      }
      const std::string err =
          d->jpeg.decode(L.jpeg_tables.empty() ? nullptr : L.jpeg_tables.data(), L.jpeg_tables.size(), d->raw.data(),
                         bytes, L.ycbcr, int(L.tile_width), int(L.tile_height), d->rows.data());
      if (!err.empty()) throw SlideError(path_, "cannot decode " + where() + ": " + err);
      if (whole_rows) continue;
      for (std::int64_t yy = cy0; yy < cy1; ++yy) {
        std::memcpy(t.rgb + ((yy - t.Y) * t.w + (cx0 - t.X)) * 3,
                    d->tile.data() + std::size_t(yy - ty) * tile_row_bytes + std::size_t(cx0 - tx) * 3,
                    std::size_t(cx1 - cx0) * 3);
      }
    }
  }

  std::unique_ptr<TileDecoder> acquire() const {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (pool_.empty()) {
      ++decoders_made_;
      return std::make_unique<TileDecoder>();
    }
    auto d = std::move(pool_.back());
    pool_.pop_back();
    return d;
  }
  void release(std::unique_ptr<TileDecoder> d) const {
    std::lock_guard<std::mutex> lock(pool_mu_);
    pool_.push_back(std::move(d));
  }

  // OpenSlide on the same file, opened on first need.
  const SlideBackend& openslide() const {
    std::lock_guard<std::mutex> lock(openslide_mu_);
    if (!openslide_) {
      OpenResult r = open_with_openslide(path_);
      if (!r.backend) throw SlideError(path_, "OpenSlide, needed for this read, cannot open it: " + r.reason);
      openslide_ = std::move(r.backend);
    }
    return *openslide_;
  }

  std::string path_;
  TiffPyramid pyramid_;
  FileDescriptor fd_;  // pread only: safe from any thread, and across fork
  std::atomic<int> decode_threads_{1};
  mutable std::mutex pool_mu_;                              // guards pool_ and decoders_made_
  mutable std::vector<std::unique_ptr<TileDecoder>> pool_;  // idle decoders
  mutable std::size_t decoders_made_ = 0;
  mutable std::mutex openslide_mu_;  // guards the creation of openslide_ (OpenSlide reads are thread-safe)
  mutable std::unique_ptr<SlideBackend> openslide_;
};

}  // namespace

OpenResult open_with_tiff_tiles(const std::string& path, bool quickhash) {
  OpenResult r;
  // OpenSlide's own detection decides the vendor, so every other TIFF-based vendor (NDPI,
  // Philips, Ventana, Leica, Trestle) stays OpenSlide's.
  const char* vendor = openslide_detect_vendor(path.c_str());
  if (!vendor || (std::strcmp(vendor, "aperio") != 0 && std::strcmp(vendor, "generic-tiff") != 0)) return r;
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  TiffPyramid p;
  if (fd.get() < 0 || !read_tiff_pyramid(path, vendor, quickhash, p).empty())
    return r;  // not exact here: OpenSlide's, quietly
  r.recognised = true;
  r.backend = std::make_unique<TiffTileBackend>(path, std::move(p), std::move(fd));
  return r;
}

}  // namespace pydmed
