#pragma once
// Stain colour: normalisation to a reference (Macenko 2009, Reinhard 2001) and augmentation in
// the haematoxylin-eosin-DAB space (Ruifrok and Johnston's stain vectors, Tellez 2018's jitter).
// Fitted once in the root, on a reference image (or a region of a reference slide); the fitted
// parameters travel inside the transform to the collectors, where each patch is transformed.
// Images are H x W x 3 uint8 RGB; optical density is OD = -ln((I + 1) / 256).
#include <array>

#include <opencv2/core.hpp>

#include "pydmed/arg.hpp"
#include "pydmed/engine/transforms.hpp"

namespace pydmed::stain {

// Two stains' unit OD vectors (columns: haematoxylin, then eosin) and each one's 99th
// percentile concentration.
struct MacenkoFit {
  cv::Matx32d stains;
  std::array<double, 2> max_concentration{};
};

struct MacenkoOptions {
  MacenkoOptions() {}
  PYDMED_ARG(double, od_threshold) = 0.15;     // pixels with less OD in any channel are background
  PYDMED_ARG(double, angle_percentile) = 1.0;  // robust extremes of the stain angles, percent
  PYDMED_ARG(int, min_pixels) = 64;            // fewer tissue pixels: nothing to fit
};

// Throws Error when the image has fewer than min_pixels tissue pixels.
MacenkoFit fit_macenko(const cv::Mat& rgb, const MacenkoOptions& options = {});
// Each patch's own stains are fitted and its concentrations re-expressed with the target's;
// a patch with too little tissue to fit is left as it is.
cv::Mat normalize_macenko(const cv::Mat& rgb, const MacenkoFit& target, const MacenkoOptions& options = {});

// Mean and standard deviation of each CIELAB channel (L 0..100, a and b about 0).
struct ReinhardFit {
  std::array<double, 3> mean{}, std{};
};
ReinhardFit fit_reinhard(const cv::Mat& rgb);
cv::Mat normalize_reinhard(const cv::Mat& rgb, const ReinhardFit& target);

// Ruifrok and Johnston's H, E and DAB unit OD vectors (rows).
cv::Matx33d hed_stains();
// Each of H, E, D concentrations scaled by a factor from [1 - sigma, 1 + sigma] and shifted by
// [-bias, bias] (drawn from rng, in that order: H, E, D factors, then shifts).
cv::Mat hed_jitter(const cv::Mat& rgb, double sigma, double bias, Rng& rng);

}  // namespace pydmed::stain

namespace pydmed::transforms {
PatchTransform macenko(const stain::MacenkoFit& target, const stain::MacenkoOptions& options = {});
PatchTransform reinhard(const stain::ReinhardFit& target);
PatchTransform hed_jitter(double sigma = 0.05, double bias = 0.05);
}  // namespace pydmed::transforms
