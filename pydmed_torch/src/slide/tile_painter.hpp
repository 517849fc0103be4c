#pragma once
// Private: what write_sample_slide draws, one tile at a time, at any level.
#include <cstdint>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

namespace pydmed {

class TilePainter {
 public:
  virtual ~TilePainter() = default;
  // Fills `tile` (CV_8UC3, RGB) with the level whose downsample is `ds` (a power of two), its
  // top-left at level pixel (px, py).
  virtual void paint(cv::Mat& tile, std::int64_t px, std::int64_t py, double ds) const = 0;
};

// A mosaic of a real slide: level 0 is tiled with 512 x 512 blocks cut from the tissue of
// `source` (level 0), each block chosen by (seed, block position); lower levels are the blocks
// area-averaged, so levels agree. Real tissue decodes as real tissue does, unlike the
// procedural slides. Throws SlideError naming `source` when it cannot be read.
std::unique_ptr<TilePainter> make_mosaic_painter(const std::string& source, std::uint64_t seed);

}  // namespace pydmed
