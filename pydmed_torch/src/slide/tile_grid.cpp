#include "slide/tile_grid.hpp"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>

#include "pydmed/error.hpp"
#include "remote/http.hpp"
#include "slide/argb.hpp"
#include "slide/j2k_tile_decoder.hpp"

namespace pydmed {

namespace {
// libjpeg's state beside a decoder's buffers: a bound, not a measure.
constexpr std::size_t kDecoderOverheadBytes = std::size_t{256} << 10;
}  // namespace

// What one thread decodes with: libjpeg's decompressor and the buffers of one tile, kept from
// read to read. A thread holds a decoder alone; idle decoders wait in the pool.
struct TileGridBackend::Decoder {
  JpegTileDecoder jpeg;
  std::vector<std::uint8_t> raw;    // the compressed tile
  std::vector<std::uint8_t> tile;   // a decoded tile whose part the region takes
  std::vector<std::uint8_t*> rows;  // where the decoder writes each row
};

// Where a read's pixels go: level pixel (X, Y) is rgb[0]; only [x0, x1) x [y0, y1) is in the level.
struct TileGridBackend::Target {
  std::uint8_t* rgb;
  std::int64_t X, Y, w, h, x0, y0, x1, y1;
  Rgb bg;
};

std::string format_double(double v) {
  char s[40];
  const auto r = std::to_chars(s, s + sizeof s, v, std::chars_format::general, 17);
  return std::string(s, r.ptr);
}

std::string pyramid_levels(const std::vector<TileLevel>& grid, std::size_t n, std::vector<LevelInfo>* levels,
                           std::map<std::string, std::string>* props) {
  const double w0 = double(grid[0].width), h0 = double(grid[0].height);
  for (std::size_t i = 0; i < n; ++i) {
    const TileLevel& L = grid[i];
    const double ds = i == 0 ? 1.0 : (h0 / double(L.height) + w0 / double(L.width)) / 2.0;
    if (i > 0 && ds < levels->back().downsample) return "levels out of order";
    levels->push_back({L.width, L.height, ds});
    const std::string p = "openslide.level[" + std::to_string(i) + "].";
    (*props)[p + "width"] = std::to_string(L.width);
    (*props)[p + "height"] = std::to_string(L.height);
    (*props)[p + "downsample"] = format_double(ds);
    (*props)[p + "tile-width"] = std::to_string(L.tile_width);
    (*props)[p + "tile-height"] = std::to_string(L.tile_height);
  }
  (*props)["openslide.level-count"] = std::to_string(levels->size());
  return "";
}

TileGridBackend::TileGridBackend(std::vector<TileLevel> grid, std::vector<std::shared_ptr<const ByteSource>> files)
    : grid_(std::move(grid)), files_(std::move(files)) {}
TileGridBackend::~TileGridBackend() = default;

void TileGridBackend::set_decode_threads(int threads) {
  decode_threads_.store(std::max(1, threads), std::memory_order_relaxed);
}

std::vector<TileGridBackend::Job> TileGridBackend::tiles_of(int level, std::int64_t x0, std::int64_t y0,
                                                             std::int64_t x1, std::int64_t y1) const {
  const TileLevel& L = grid_[std::size_t(level)];
  std::vector<Job> jobs;
  for (std::int64_t r = y0 / L.tile_height; r <= (y1 - 1) / L.tile_height; ++r)
    for (std::int64_t c = x0 / L.tile_width; c <= (x1 - 1) / L.tile_width; ++c) jobs.push_back({c, r});
  return jobs;
}

void TileGridBackend::fetch_ahead(int level, const std::vector<Job>& jobs, bool now) const {
  const TileLevel& L = grid_[std::size_t(level)];
  const ByteSource& f = *files_[L.file];
  if (!f.remote()) return;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const Job& j : jobs) {
    const auto index = std::size_t(j.row * L.tiles_across + j.col);
    if (L.byte_counts[index] > 0) ranges.emplace_back(L.offsets[index], L.byte_counts[index]);
  }
  f.prefetch(ranges, now);
}

void TileGridBackend::prefetch(std::int64_t x, std::int64_t y, int level, std::int64_t w, std::int64_t h) const {
  const TileLevel& L = grid_[std::size_t(level)];
  const double ds = levels[std::size_t(level)].downsample;
  const auto X = std::int64_t(std::floor(double(x) / ds)), Y = std::int64_t(std::floor(double(y) / ds));
  const std::int64_t x0 = std::max<std::int64_t>(X, 0), y0 = std::max<std::int64_t>(Y, 0);
  const std::int64_t x1 = std::min(X + w, L.width), y1 = std::min(Y + h, L.height);
  if (x0 < x1 && y0 < y1) fetch_ahead(level, tiles_of(level, x0, y0, x1, y1), false);
}

void TileGridBackend::read_grid(std::uint8_t* rgb, std::int64_t X, std::int64_t Y, int level, std::int64_t w,
                                std::int64_t h, Rgb bg) const {
  const TileLevel& L = grid_[std::size_t(level)];
  const std::int64_t x0 = std::max<std::int64_t>(X, 0), y0 = std::max<std::int64_t>(Y, 0);
  const std::int64_t x1 = std::min(X + w, L.width), y1 = std::min(Y + h, L.height);
  if (x0 > X || y0 > Y || x1 < X + w || y1 < Y + h) fill_background(rgb, w, 0, 0, w, h, bg);  // part lies outside
  if (x0 >= x1 || y0 >= y1) return;
  const std::vector<Job> jobs = tiles_of(level, x0, y0, x1, y1);
  fetch_ahead(level, jobs, true);  // a remote file: every tile requested before the first is decoded
  if (files_[L.file]->remote()) {
    std::uint64_t needed = 0;
    for (const Job& j : jobs) needed += L.byte_counts[std::size_t(j.row * L.tiles_across + j.col)];
    remote::note_tiles_read(needed);
  }
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

std::size_t TileGridBackend::grid_resident_bytes() const {
  std::size_t tables = 0, per_decoder = 0;
  for (const TileLevel& L : grid_) {
    tables += 16 * L.offsets.size() + L.jpeg_tables.size();
    per_decoder = std::max(per_decoder, std::size_t(L.tile_width * L.tile_height * 3 + L.largest_tile_bytes) +
                                            kDecoderOverheadBytes);
  }
  std::size_t decoders = std::size_t(decode_threads_.load(std::memory_order_relaxed));
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    decoders = std::max(decoders, decoders_made_);
  }
  return tables + per_decoder * decoders;
}

// Decodes jobs [begin, end) with one decoder and puts each tile's part of the region in place.
void TileGridBackend::decode(int level, const std::vector<Job>& jobs, std::size_t begin, std::size_t end,
                             const Target& t) const {
  const TileLevel& L = grid_[std::size_t(level)];
  // Back to the pool however this ends (a damaged tile throws): the decoder holds no state
  // between tiles, and the pool stays the size of the most threads decoding at once.
  struct Lease {
    const TileGridBackend* owner;
    std::unique_ptr<Decoder> d;
    ~Lease() { owner->release(std::move(d)); }
  } lease{this, acquire()};
  Decoder* d = lease.d.get();
  const std::size_t tile_row_bytes = std::size_t(L.tile_width) * 3;
  d->tile.resize(tile_row_bytes * std::size_t(L.tile_height));
  d->rows.resize(std::size_t(L.tile_height));
  for (std::size_t j = begin; j < end; ++j) {
    const auto [c, r] = jobs[j];
    const std::int64_t tx = c * L.tile_width, ty = r * L.tile_height;
    const std::int64_t cx0 = std::max(t.x0, tx), cx1 = std::min(t.x1, tx + L.tile_width);
    const std::int64_t cy0 = std::max(t.y0, ty), cy1 = std::min(t.y1, ty + L.tile_height);
    const auto index = std::size_t(r * L.tiles_across + c);
    if (L.byte_counts[index] == 0) {  // a tile never written: the background
      fill_background(t.rgb, t.w, cx0 - t.X, cy0 - t.Y, cx1 - cx0, cy1 - cy0, t.bg);
      continue;
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
    decode_tile(*d, level, tx, ty, index, d->rows.data());
    if (whole_rows) continue;
    for (std::int64_t yy = cy0; yy < cy1; ++yy) {
      std::memcpy(t.rgb + ((yy - t.Y) * t.w + (cx0 - t.X)) * 3,
                  d->tile.data() + std::size_t(yy - ty) * tile_row_bytes + std::size_t(cx0 - tx) * 3,
                  std::size_t(cx1 - cx0) * 3);
    }
  }
}

// One tile (its top-left at level pixel (tx, ty)), read from its file and decoded into `rows`.
void TileGridBackend::decode_tile(Decoder& d, int level, std::int64_t tx, std::int64_t ty, std::size_t index,
                                  std::uint8_t* const* rows) const {
  const TileLevel& L = grid_[std::size_t(level)];
  const ByteSource& f = *files_[L.file];
  const auto where = [&] {
    return "the tile at level " + std::to_string(level) + " pixel (" + std::to_string(tx) + ", " + std::to_string(ty) + ")";
  };
  const std::uint64_t bytes = L.byte_counts[index];
  d.raw.resize(bytes);
  if (f.read_at(d.raw.data(), bytes, L.offsets[index]) != bytes)
    throw SlideError(f.name(), "cannot read " + where() + ": the file ends before it (truncated?)");
  if (L.codec == TileLevel::Codec::kRgb8) {
    const std::size_t row = std::size_t(L.tile_width) * 3;
    if (bytes < row * std::size_t(L.tile_height))
      throw SlideError(f.name(), "cannot decode " + where() + ": " + std::to_string(bytes) + " bytes, not " +
                                   std::to_string(row * std::size_t(L.tile_height)));
    for (std::int64_t i = 0; i < L.tile_height; ++i) std::memcpy(rows[i], d.raw.data() + std::size_t(i) * row, row);
    return;
  }
  if (L.codec == TileLevel::Codec::kJpeg2000) {
    const std::string err = decode_j2k(d.raw.data(), bytes, int(L.tile_width), int(L.tile_height), rows);
    if (!err.empty()) throw SlideError(f.name(), "cannot decode " + where() + ": " + err);
    return;
  }
  const std::string err = d.jpeg.decode(L.jpeg_tables.empty() ? nullptr : L.jpeg_tables.data(), L.jpeg_tables.size(),
                                        d.raw.data(), bytes, L.colour, int(L.tile_width), int(L.tile_height), rows);
  if (!err.empty()) throw SlideError(f.name(), "cannot decode " + where() + ": " + err);
}

std::unique_ptr<TileGridBackend::Decoder> TileGridBackend::acquire() const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_.empty()) {
    ++decoders_made_;
    return std::make_unique<Decoder>();
  }
  auto d = std::move(pool_.back());
  pool_.pop_back();
  return d;
}

void TileGridBackend::release(std::unique_ptr<Decoder> d) const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  pool_.push_back(std::move(d));
}

}  // namespace pydmed
