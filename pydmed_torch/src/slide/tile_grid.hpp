#pragma once
// Private: a pyramid whose levels are grids of tiles read by offset from files, decoded tile by
// tile straight into RGB, by several threads at once when asked. The TIFF-JPEG tile reader and
// the DICOM reader are its two faces: each works out where the tiles lie, this reads them.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pydmed/slide/backend.hpp"
#include "slide/byte_source.hpp"
#include "slide/jpeg_tile_decoder.hpp"

namespace pydmed {

// One level's tiles: which file holds them, where each lies in it, how it is coded.
struct TileLevel {
  std::int64_t width = 0, height = 0;
  std::int64_t tile_width = 0, tile_height = 0;
  std::int64_t tiles_across = 0;
  enum class Codec { kJpeg, kJpeg2000, kRgb8 } codec = Codec::kJpeg;  // kRgb8: uncompressed, interleaved RGB
  JpegColour colour = JpegColour::kYCbCr;
  std::size_t file = 0;                             // which of the grid's sources holds them
  std::vector<std::uint64_t> offsets, byte_counts;  // per tile, row by row; a count of 0: missing
  std::vector<std::uint8_t> jpeg_tables;            // an abbreviated stream the tiles share, or empty
  std::uint64_t largest_tile_bytes = 0;             // compressed
};

// _openslide_format_double: g_ascii_dtostr, a locale-free "%.17g".
std::string format_double(double v);
// The first `n` grid levels as a pyramid, as openslide.c makes one: downsamples from the
// dimensions (levels must not grow), and openslide.level[i].* and level-count in `props`.
// Returns "" or why not.
std::string pyramid_levels(const std::vector<TileLevel>& grid, std::size_t n, std::vector<LevelInfo>* levels,
                           std::map<std::string, std::string>* props);

class TileGridBackend : public SlideBackend {
 public:
  // Relaxed: a read started before the change may use either count.
  void set_decode_threads(int threads) override;
  // The tiles of the region at level pixel (x / downsample, y / downsample), for remote files.
  void prefetch(std::int64_t x, std::int64_t y, int level, std::int64_t w, std::int64_t h) const override;

 protected:
  TileGridBackend(std::vector<TileLevel> grid, std::vector<std::shared_ptr<const ByteSource>> files);
  ~TileGridBackend() override;
  // Level pixels [X, X + w) x [Y, Y + h) of `level` into w * h * 3 bytes; outside the level, and
  // where a tile is missing, the background.
  void read_grid(std::uint8_t* rgb, std::int64_t X, std::int64_t Y, int level, std::int64_t w, std::int64_t h,
                 Rgb bg) const;
  // The tile tables and a decoder with the largest level's buffers per thread decoding at once.
  std::size_t grid_resident_bytes() const;
  const std::vector<TileLevel>& grid() const { return grid_; }

 private:
  struct Decoder;
  struct Target;
  struct Job {
    std::int64_t col, row;
  };
  // The tiles a region of the level takes, row by row.
  std::vector<Job> tiles_of(int level, std::int64_t x0, std::int64_t y0, std::int64_t x1, std::int64_t y1) const;
  // Starts fetching those tiles when their file is remote (neighbours coalesced by the source);
  // `now`: for the read starting, ahead of look-ahead.
  void fetch_ahead(int level, const std::vector<Job>& jobs, bool now) const;
  void decode(int level, const std::vector<Job>& jobs, std::size_t begin, std::size_t end, const Target& t) const;
  void decode_tile(Decoder& d, int level, std::int64_t tx, std::int64_t ty, std::size_t index,
                   std::uint8_t* const* rows) const;
  std::unique_ptr<Decoder> acquire() const;
  void release(std::unique_ptr<Decoder> d) const;

  std::vector<TileLevel> grid_;
  std::vector<std::shared_ptr<const ByteSource>> files_;
  std::atomic<int> decode_threads_{1};
  mutable std::mutex pool_mu_;                          // guards pool_ and decoders_made_
  mutable std::vector<std::unique_ptr<Decoder>> pool_;  // idle decoders
  mutable std::size_t decoders_made_ = 0;
};

}  // namespace pydmed
