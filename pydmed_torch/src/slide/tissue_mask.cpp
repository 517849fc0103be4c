#include "pydmed/slide/tissue_mask.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"

namespace pydmed {

TissueMask::TissueMask(const Slide& slide, const TissueMaskOptions& options) {
  const cv::Mat thumb = slide.thumbnail(options.thumbnail_size());
  const LevelInfo& l0 = slide.levels()[0];
  ds_x_ = double(l0.width) / thumb.cols;
  ds_y_ = double(l0.height) / thumb.rows;

  // Bright-field (white border): tissue absorbs, so its darkest channel is low. Fluorescence
  // (dark border): tissue emits, so its brightest channel is high. Either way `signal` is high
  // on tissue.
  cv::Mat grey, border = cv::Mat::ones(thumb.size(), CV_8U) * 255;
  cv::cvtColor(thumb, grey, cv::COLOR_RGB2GRAY);
  if (thumb.rows > 2 && thumb.cols > 2) border(cv::Rect(1, 1, thumb.cols - 2, thumb.rows - 2)) = 0;
  const bool bright_field = cv::mean(grey, border)[0] > 127;
  std::vector<cv::Mat> ch;
  cv::split(thumb, ch);
  cv::Mat signal;
  if (bright_field) {
    cv::min(ch[0], ch[1], signal);
    cv::min(signal, ch[2], signal);
    cv::subtract(cv::Scalar(255), signal, signal);
  } else {
    cv::max(ch[0], ch[1], signal);
    cv::max(signal, ch[2], signal);
  }
  // Blur first, so that tissue is a region, not a scatter of nuclei.
  const int k = std::max(3, (std::max(thumb.cols, thumb.rows) / 48) | 1);
  cv::GaussianBlur(signal, signal, {k, k}, 0);

  // Otsu splits what it is given in two: on a slide that is all tissue it splits the tissue (a
  // pale stain from a dark one). Glass (bright-field) and dark background (fluorescence) give a
  // signal below kBackground whatever the stain, so anything above it is tissue either way.
  constexpr double kBackground = 40;
  cv::Scalar mean, stddev;
  cv::meanStdDev(signal, mean, stddev);
  if (stddev[0] < 2.0) {  // featureless: all tissue, or none
    mask_ = cv::Mat(thumb.size(), CV_8U, cv::Scalar(mean[0] > kBackground ? 255 : 0));
  } else {
    cv::Mat unused;
    const double otsu = cv::threshold(signal, unused, 0, 255, cv::THRESH_BINARY | cv::THRESH_OTSU);
    cv::threshold(signal, mask_, std::min(otsu, kBackground), 255, cv::THRESH_BINARY);
    if (options.smoothing() > 0) {
      const int m = 2 * options.smoothing() + 1;
      const cv::Mat se = cv::getStructuringElement(cv::MORPH_ELLIPSE, {m, m});
      cv::morphologyEx(mask_, mask_, cv::MORPH_OPEN, se);
      cv::morphologyEx(mask_, mask_, cv::MORPH_CLOSE, se);
    }
  }
  cv::Mat ones;
  cv::threshold(mask_, ones, 127, 1, cv::THRESH_BINARY);
  cv::integral(ones, integral_, CV_32S);
}

double TissueMask::tissue_fraction() const {
  return double(integral_.at<int>(mask_.rows, mask_.cols)) / double(mask_.total());
}

double TissueMask::fraction(std::int64_t x, std::int64_t y, std::int64_t width, std::int64_t height) const {
  if (width <= 0 || height <= 0) return 0.0;
  // Mask pixels whose centre lies inside the rectangle.
  auto to_col = [&](double v) { return std::clamp<long>(std::lround(v / ds_x_), 0, mask_.cols); };
  auto to_row = [&](double v) { return std::clamp<long>(std::lround(v / ds_y_), 0, mask_.rows); };
  const long c0 = to_col(double(x)), c1 = to_col(double(x + width));
  const long r0 = to_row(double(y)), r1 = to_row(double(y + height));
  const double full = std::max(1.0, (double(width) / ds_x_) * (double(height) / ds_y_));
  if (c1 <= c0 || r1 <= r0) {
    // Smaller than one mask pixel: use the pixel under its centre.
    const long c = std::clamp<long>(long((x + width / 2) / ds_x_), 0, mask_.cols - 1);
    const long r = std::clamp<long>(long((y + height / 2) / ds_y_), 0, mask_.rows - 1);
    const bool inside =
        x + width > 0 && y + height > 0 && x < std::int64_t(mask_.cols * ds_x_) && y < std::int64_t(mask_.rows * ds_y_);
    return inside && mask_.at<uchar>(int(r), int(c)) ? 1.0 : 0.0;
  }
  const int s = integral_.at<int>(int(r1), int(c1)) - integral_.at<int>(int(r0), int(c1)) -
                integral_.at<int>(int(r1), int(c0)) + integral_.at<int>(int(r0), int(c0));
  return std::min(1.0, s / full);
}

std::vector<RegionInfo> TissueMask::tissue_regions(const Slide& slide, int level, std::int64_t width,
                                                   std::int64_t height, double min_fraction) const {
  const LevelInfo& L = slide.level(level);
  if (width <= 0 || height <= 0) {
    throw SlideError(slide.path(), "tissue region size must be positive");
  }
  std::vector<RegionInfo> out;
  for (std::int64_t ty = 0; ty + height <= L.height; ty += height) {
    for (std::int64_t tx = 0; tx + width <= L.width; tx += width) {
      const auto x0 = std::int64_t(std::llround(tx * L.downsample));
      const auto y0 = std::int64_t(std::llround(ty * L.downsample));
      const auto w0 = std::int64_t(std::llround(width * L.downsample));
      const auto h0 = std::int64_t(std::llround(height * L.downsample));
      if (fraction(x0, y0, w0, h0) >= min_fraction) out.push_back({x0, y0, level, width, height, L.downsample});
    }
  }
  return out;
}

}  // namespace pydmed
