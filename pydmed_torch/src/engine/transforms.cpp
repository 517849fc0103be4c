#include "pydmed/engine/transforms.hpp"

#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"

namespace pydmed::transforms {

PatchTransform random_flip(double ph, double pv) {
  return [ph, pv](const cv::Mat& m, Rng& rng) {
    const bool h = rng.uniform() < ph, v = rng.uniform() < pv;
    if (!h && !v) return m;
    cv::Mat out;
    cv::flip(m, out, h && v ? -1 : (h ? 1 : 0));
    return out;
  };
}

PatchTransform random_rot90() {
  return [](const cv::Mat& m, Rng& rng) {
    const auto k = rng.below(4);
    if (k == 0) return m;
    cv::Mat out;
    cv::rotate(m, out, k == 1 ? cv::ROTATE_90_CLOCKWISE : k == 2 ? cv::ROTATE_180 : cv::ROTATE_90_COUNTERCLOCKWISE);
    return out;
  };
}

PatchTransform color_jitter(double b, double c, double s) {
  return [b, c, s](const cv::Mat& m, Rng& rng) {
    const double fb = 1 + b * (2 * rng.uniform() - 1);
    const double fc = 1 + c * (2 * rng.uniform() - 1);
    const double fs = 1 + s * (2 * rng.uniform() - 1);
    cv::Mat f;
    m.convertTo(f, CV_32F);
    if (m.channels() == 3) {  // saturation: blend with the grey image
      cv::Mat grey, grey3;
      cv::cvtColor(f, grey, cv::COLOR_RGB2GRAY);
      cv::cvtColor(grey, grey3, cv::COLOR_GRAY2RGB);
      cv::addWeighted(f, fs, grey3, 1 - fs, 0, f);
    }
    const double mean = cv::mean(f)[0];
    f = (f - mean) * fc + mean;  // contrast around the mean, then brightness
    cv::Mat out;
    f.convertTo(out, CV_8U, fb);
    return out;
  };
}

PatchTransform resize(int height, int width) {
  if (height <= 0 || width <= 0) throw Error("transforms::resize: size must be positive");
  return [height, width](const cv::Mat& m, Rng&) {
    if (m.rows == height && m.cols == width) return m;
    cv::Mat out;
    const bool shrink = m.rows > height || m.cols > width;
    cv::resize(m, out, {width, height}, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    return out;
  };
}

PatchTransform compose(std::vector<PatchTransform> steps) {
  return [steps = std::move(steps)](const cv::Mat& m, Rng& rng) {
    cv::Mat x = m;
    for (const auto& t : steps) x = t(x, rng);
    return x;
  };
}

}  // namespace pydmed::transforms
