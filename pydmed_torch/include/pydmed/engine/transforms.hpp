#pragma once
// Patch transforms (PyDmed's tfms), built on OpenCV. They run inside the collector processes,
// in parallel, on each SmallChunk before it enters the ring; each draws from the chunk's own
// random stream, so a seed fixes them too.
#include <functional>
#include <vector>

#include <opencv2/core.hpp>

#include "pydmed/random.hpp"

namespace pydmed {

// Takes an H x W x C uint8 patch, returns the transformed patch (a new Mat or the same one).
using PatchTransform = std::function<cv::Mat(const cv::Mat& patch, Rng& rng)>;

namespace transforms {

PatchTransform random_flip(double p_horizontal = 0.5, double p_vertical = 0.5);
PatchTransform random_rot90();  // 0, 90, 180 or 270 degrees, equally likely (square patches)
// Brightness and contrast factors drawn from [1 - b, 1 + b] and [1 - c, 1 + c]; saturation
// from [1 - s, 1 + s] (RGB patches).
PatchTransform color_jitter(double brightness = 0.1, double contrast = 0.1, double saturation = 0.1);
PatchTransform resize(int height, int width);  // area interpolation when shrinking
PatchTransform compose(std::vector<PatchTransform> steps);

}  // namespace transforms
}  // namespace pydmed
