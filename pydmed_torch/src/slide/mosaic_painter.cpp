#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"
#include "slide/tile_painter.hpp"

namespace pydmed {
namespace {

constexpr int kBlocks = 64;  // distinct blocks cut from the source

class MosaicPainter : public TilePainter {
 public:
  MosaicPainter(const std::string& source, std::uint64_t seed) : seed_(seed) {
    const Slide slide(source);
    const LevelInfo& l0 = slide.level(0);
    // Blocks as large as 512 and the source allow, a power of two so every level halves them.
    block_ = 512;
    while (block_ > 16 && (block_ > l0.width || block_ > l0.height)) block_ /= 2;
    if (block_ > l0.width || block_ > l0.height) throw SlideError(source, "too small to cut 16 x 16 blocks from");
    // Where the tissue is; any place when there is none.
    const TissueMask tissue(slide, TissueMaskOptions().thumbnail_size(512));
    Rng rng({seed, 0xB10C});
    for (int tries = 0; int(blocks_.size()) < kBlocks && tries < 50 * kBlocks; ++tries) {
      const auto x = std::int64_t(rng.below(std::uint64_t(l0.width - block_ + 1)));
      const auto y = std::int64_t(rng.below(std::uint64_t(l0.height - block_ + 1)));
      if (tries < 40 * kBlocks && tissue.fraction(x, y, block_, block_) < 0.5) continue;
      blocks_.push_back({slide.read_region(x, y, 0, block_, block_)});
    }
  }

  void paint(cv::Mat& tile, std::int64_t px, std::int64_t py, double ds) const override {
    const auto step = std::int64_t(ds);  // level-0 pixels per pixel
    for (int j = 0; j < tile.rows; ++j) {
      auto* row = tile.ptr<cv::Vec3b>(j);
      for (int i = 0; i < tile.cols;) {
        // The block under this pixel, and how many pixels of the row it covers.
        const std::int64_t X = (px + i) * step, Y = (py + j) * step;
        const std::int64_t bx = X / block_, by = Y / block_;
        const cv::Mat& b = block(bx, by, step);
        const std::int64_t scale = std::max<std::int64_t>(1, block_ / step);  // block size at this level
        const int u = int((px + i) % scale), v = int((py + j) % scale);
        const int n = std::min(tile.cols - i, int(scale) - u);
        const auto* src = b.ptr<cv::Vec3b>(std::min(v, b.rows - 1));
        for (int k = 0; k < n; ++k) row[i + k] = src[std::min(u + k, b.cols - 1)];
        i += n;
      }
    }
  }

 private:
  // Block (bx, by) of the mosaic at `step` level-0 pixels per pixel: its source block
  // area-averaged to block_ / step pixels a side, at least one. Levels are written one after
  // another (by one thread), so the cache holds one level's blocks at a time.
  const cv::Mat& block(std::int64_t bx, std::int64_t by, std::int64_t step) const {
    const std::size_t k =
        splitmix64(seed_ ^ splitmix64(std::uint64_t(bx) * 0x9E3779B97F4A7C15ULL + std::uint64_t(by))) % blocks_.size();
    if (step != cached_step_) cache_.assign(blocks_.size(), cv::Mat()), cached_step_ = step;
    cv::Mat& m = cache_[k];
    if (m.empty()) {
      const int side = int(std::max<std::int64_t>(1, block_ / step));
      cv::resize(blocks_[k], m, cv::Size(side, side), 0, 0, cv::INTER_AREA);
    }
    return m;
  }

  std::uint64_t seed_;
  std::int64_t block_ = 512;
  std::vector<cv::Mat> blocks_;  // level-0 blocks cut from the source
  mutable std::vector<cv::Mat> cache_;
  mutable std::int64_t cached_step_ = 0;
};

}  // namespace

std::unique_ptr<TilePainter> make_mosaic_painter(const std::string& source, std::uint64_t seed) {
  return std::make_unique<MosaicPainter>(source, seed);
}

}  // namespace pydmed
