// Slide::physical_region and read_region_at_mpp: a patch of P pixels at M microns a pixel is
// read at the coarsest level still at least as fine as M (1% slack, so that 0.2282 x 2 serves
// 0.46), round(P * M / mpp) pixels of it, then resized to P.
#include <cmath>
#include <cstdio>

#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

std::string plausible_mpp_text() {
  return "microns per pixel from " + mpp_string(kMinMpp) + " to " + mpp_string(kMaxMpp);
}

std::string mpp_string(double mpp) {
  char s[32];
  std::snprintf(s, sizeof s, "%.6g", mpp);
  return s;
}

PhysicalRegion Slide::physical_region(double target_mpp, int width, int height, bool allow_upsample) const {
  if (!plausible_mpp(target_mpp)) {
    throw SlideInputError(
        path_, "target mpp " + mpp_string(target_mpp) + " is not a microscope's: give " + plausible_mpp_text());
  }
  if (width <= 0 || height <= 0) throw SlideError(path_, "patch size must be positive");
  const auto mx = mpp_x(), my = mpp_y();
  if (!mx || !my) {
    throw SlideInputError(path_, "no microns-per-pixel (mpp) in the slide, needed to read at " +
                                     mpp_string(target_mpp) +
                                     " um/px: give it in the manifest's mpp:RECORD column or with --slide-mpp");
  }
  // The whole slide at the target, against one patch: a target so coarse that the slide is
  // smaller than a patch reads padding, not tissue.
  const double slide_w = double(levels()[0].width) * *mx / target_mpp,
               slide_h = double(levels()[0].height) * *my / target_mpp;
  if (slide_w < width || slide_h < height) {
    throw SlideInputError(path_, "the whole slide is " + std::to_string(std::llround(slide_w)) + " x " +
                                     std::to_string(std::llround(slide_h)) + " pixels at " + mpp_string(target_mpp) +
                                     " um/px, smaller than one " + std::to_string(width) + " x " +
                                     std::to_string(height) + " patch");
  }
  PhysicalRegion r;
  r.level = -1;
  for (int l = 0; l < level_count(); ++l) {
    if (*mx * levels()[std::size_t(l)].downsample <= target_mpp * 1.01) r.level = l;
  }
  if (r.level < 0) {
    if (!allow_upsample) {
      throw SlideInputError(path_, "target " + mpp_string(target_mpp) +
                                       " um/px is finer than the slide's finest level (" + mpp_string(*mx) +
                                       " um/px); upsampling was not allowed");
    }
    r.level = 0;
    r.upsample = true;
  }
  const double ds = levels()[std::size_t(r.level)].downsample;
  r.level_mpp_x = *mx * ds;
  r.level_mpp_y = *my * ds;
  r.width = std::max<std::int64_t>(1, std::llround(width * target_mpp / r.level_mpp_x));
  r.height = std::max<std::int64_t>(1, std::llround(height * target_mpp / r.level_mpp_y));
  return r;
}

cv::Mat Slide::read_region_at_mpp(std::int64_t x, std::int64_t y, double target_mpp, int width, int height,
                                  bool allow_upsample) const {
  const PhysicalRegion r = physical_region(target_mpp, width, height, allow_upsample);
  cv::Mat level = read_region(x, y, r.level, r.width, r.height);
  return resize_to_patch(level, cv::Size(width, height), r.upsample);
}

}  // namespace pydmed
