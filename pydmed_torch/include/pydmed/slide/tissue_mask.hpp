#pragma once
// Where the tissue is: Otsu's threshold on a thumbnail, at low resolution.
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "pydmed/arg.hpp"
#include "pydmed/slide/region.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

struct TissueMaskOptions {
  TissueMaskOptions() {}
  PYDMED_ARG(int, thumbnail_size) = 1024;  // longest side of the mask, in mask pixels
  PYDMED_ARG(int, smoothing) = 2;          // radius (mask pixels) of the open/close clean-up
};

// The mask the loaders' min_tissue rules read (the random loader's BigChunks and patches, the
// sliding window's windows): coarse and quick, and one definition, so that a fraction means
// the same on every side.
inline TissueMaskOptions min_tissue_mask_options() { return TissueMaskOptions().thumbnail_size(512); }

class TissueMask {
 public:
  // Otsu's threshold on a blurred stain signal; a bright border means bright-field (tissue is
  // what absorbs), a dark one fluorescence (tissue is what emits). A featureless slide has no
  // tissue.
  explicit TissueMask(const Slide& slide, const TissueMaskOptions& options = {});

  const cv::Mat& mask() const { return mask_; }  // CV_8U, 255 = tissue
  double downsample_x() const { return ds_x_; }  // level-0 pixels per mask pixel
  double downsample_y() const { return ds_y_; }
  double tissue_fraction() const;  // of the whole slide

  // Fraction of the level-0 rectangle covered by tissue (outside the slide counts as none).
  double fraction(std::int64_t x, std::int64_t y, std::int64_t width, std::int64_t height) const;

  // The tiles of a `width` x `height` grid over `level` that hold at least `min_fraction`
  // tissue, row by row. Edge tiles that stick out of the level are not included.
  std::vector<RegionInfo> tissue_regions(const Slide& slide, int level, std::int64_t width, std::int64_t height,
                                         double min_fraction) const;

 private:
  cv::Mat mask_;
  cv::Mat integral_;  // CV_32S, (rows+1) x (cols+1): tissue pixel counts for O(1) fractions
  double ds_x_ = 1, ds_y_ = 1;
};

}  // namespace pydmed
