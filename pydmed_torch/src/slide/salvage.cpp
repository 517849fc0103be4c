// Slide::read_region_salvage: a region read around damaged tiles. OpenSlide's errors are
// sticky on a handle, so after a failure the slide is reopened before the next piece.
#include <cmath>
#include <cstring>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"
#include "slide/argb.hpp"
#include "slide/readers.hpp"

namespace pydmed {
namespace {

// Piece edges along one axis, in region pixels: 0, every tile edge strictly inside, `length`.
// `origin` is the region's start in pixels of the level.
std::vector<std::int64_t> edges(double origin, std::int64_t length, std::int64_t tile) {
  std::vector<std::int64_t> e{0};
  for (auto k = std::int64_t(std::floor(origin / tile)) + 1;; ++k) {
    const auto at = std::int64_t(std::llround(double(k * tile) - origin));
    if (at >= length) break;
    if (at > e.back()) e.push_back(at);
  }
  e.push_back(length);
  return e;
}

bool same_levels(const std::vector<LevelInfo>& a, const std::vector<LevelInfo>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].width != b[i].width || a[i].height != b[i].height || a[i].downsample != b[i].downsample) return false;
  }
  return true;
}

}  // namespace

void Slide::reopen() {
  std::unique_ptr<SlideBackend> fresh;
  try {
    fresh = open_backend(path_, reader_);  // the same reader: its levels and bytes
  } catch (const SlideError& e) {
    throw SlideError(path_, "reopening after a failed read: " + e.reason());
  }
  if (fresh->vendor != vendor_ || !same_levels(fresh->levels, levels_)) {
    throw SlideError(path_, "reopening after a failed read: the file changed (now " + fresh->vendor + ", " +
                                std::to_string(fresh->levels.size()) + " levels)");
  }
  fresh->set_decode_threads(decode_threads_);
  backend_ = std::move(fresh);
}

std::vector<DamagedPiece> Slide::read_region_salvage(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int lvl,
                                                     std::int64_t width, std::int64_t height) {
  check_region(x, y, lvl, width, height);
  try {
    backend_->read_region(rgb, x, y, lvl, width, height, background_);
    return {};
  } catch (const RemoteError&) {
    throw;  // not damage: the bytes did not arrive
  } catch (const SlideError& e) {
    // A plain image is decoded whole, so it fails whole: one piece, not a decode per tile.
    if (vendor_ == "image") {
      fill_background(rgb, width, 0, 0, width, height, background_);
      return {{0, 0, int(width), int(height), e.what()}};
    }
  }
  reopen();
  // One piece per tile of the level, so that one bad tile costs only its own pixels.
  const double ds = level(lvl).downsample;
  // The reader's tiles, else 256 (and never absurd ones).
  auto [tw, th] = tile_size(lvl);
  if (tw <= 0 || tw > (1 << 20)) tw = 256;
  if (th <= 0 || th > (1 << 20)) th = 256;
  const auto xs = edges(double(x) / ds, width, tw);
  const auto ys = edges(double(y) / ds, height, th);
  std::vector<DamagedPiece> damaged;
  std::vector<std::uint8_t> piece;
  for (std::size_t j = 0; j + 1 < ys.size(); ++j) {
    for (std::size_t i = 0; i + 1 < xs.size(); ++i) {
      const std::int64_t px = xs[i], py = ys[j], pw = xs[i + 1] - px, ph = ys[j + 1] - py;
      piece.resize(std::size_t(pw * ph * 3));
      try {
        backend_->read_region(piece.data(), x + std::llround(px * ds), y + std::llround(py * ds), lvl, pw, ph,
                              background_);
        for (std::int64_t r = 0; r < ph; ++r) {
          std::memcpy(rgb + ((py + r) * width + px) * 3, piece.data() + r * pw * 3, std::size_t(pw * 3));
        }
      } catch (const RemoteError&) {
        throw;
      } catch (const SlideError& e) {
        fill_background(rgb, width, px, py, pw, ph, background_);
        damaged.push_back({int(px), int(py), int(pw), int(ph), e.what()});  // names the slide
        reopen();  // the failed handle would fail every later piece
      }
    }
  }
  return damaged;
}

}  // namespace pydmed
