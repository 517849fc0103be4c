#pragma once
// Patches at a physical resolution (microns per pixel), the same field of view on every
// scanner: 224 pixels at 0.5 um/px are 112 um whether the slide is 0.228 or 0.499 um/px.
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

namespace pydmed {

// What Slide::physical_region picks for a target mpp M and a patch of P pixels.
struct PhysicalRegion {
  // The coarsest level whose mpp (x axis) is at most M x 1.01; level 0 when upsampling.
  int level = 0;
  // round(P * M / mpp of the level), per axis with that axis's mpp: the pixels of the level
  // read, then resized to P.
  std::int64_t width = 0, height = 0;
  double level_mpp_x = 0, level_mpp_y = 0;
  bool upsample = false;  // the target is finer than level 0 (allowed explicitly)
};

// How a region becomes a patch: OpenCV's INTER_AREA bit for bit (cv::resize's own arithmetic,
// so a patch equals read_region + cv::resize), about 1.6x faster for the non-integer factors a
// physical resolution brings (each source row's horizontal pass done once, not once per output
// row it feeds); OpenCV itself for integer factors and anything but 8-bit RGB. INTER_LINEAR
// when `upsample`.
cv::Mat resize_to_patch(const cv::Mat& region, cv::Size size, bool upsample = false);
// The same into `dst` (allocated, of the size wanted, 8-bit RGB; a header over shared memory is
// written in place, never reallocated).
void resize_into(const cv::Mat& region, cv::Mat dst, bool upsample = false);

// Microns per pixel a microscope slide can have (a target, a manifest's, a slide's own): 0.01
// (beyond any optical scanner) to 1,000 (a 1 mm pixel). Outside it a value is a mistake (an
// exponent typed wrong, 1e-300 in a manifest), refused or, for a slide's own tags, taken as "no
// mpp". (A 72-dpi picture's 352.8 lies inside: Slide::mpp_x reads no mpp from inches at all.)
constexpr double kMinMpp = 0.01, kMaxMpp = 1000;
inline bool plausible_mpp(double mpp) { return mpp >= kMinMpp && mpp <= kMaxMpp; }
// "microns per pixel from 0.01 to 1000", for every message that states the range.
std::string plausible_mpp_text();
// An mpp for a message, in 6 significant digits: "0.25", "1e-09" (never "0.000000").
std::string mpp_string(double mpp);

// "--magnification X" as an mpp: 10 / X (40x is 0.25 um/px, 20x 0.5).
inline double mpp_of_magnification(double magnification) { return 10.0 / magnification; }

}  // namespace pydmed
