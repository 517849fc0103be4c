// OpenCV's INTER_AREA (its generic path: resizeArea_ with computeResizeAreaTab's weights),
// the same float operations in the same order; built with -ffp-contract=off so no multiply-add
// is fused where OpenCV's is not.
#include "pydmed/slide/physical.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>
namespace pydmed {
namespace {
struct Weight {
  int si, di;  // source and destination offsets (elements)
  float alpha;
};
// Which source pixels each destination pixel averages, and their weights.
std::vector<Weight> area_table(int ssize, int dsize, int cn, double scale) {
  std::vector<Weight> tab;
  tab.reserve(std::size_t(ssize) * 2);
  for (int dx = 0; dx < dsize; dx++) {
    const double fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const double cell = std::min(scale, ssize - fsx1);
    int sx1 = cvCeil(fsx1), sx2 = cvFloor(fsx2);
    sx2 = std::min(sx2, ssize - 1);
    sx1 = std::min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) tab.push_back({(sx1 - 1) * cn, dx * cn, float((sx1 - fsx1) / cell)});
    for (int sx = sx1; sx < sx2; sx++) tab.push_back({sx * cn, dx * cn, float(1.0 / cell)});
    if (fsx2 - sx2 > 1e-3) tab.push_back({sx2 * cn, dx * cn, float(std::min(std::min(fsx2 - sx2, 1.), cell) / cell)});
  }
  return tab;
}
}  // namespace

cv::Mat resize_to_patch(const cv::Mat& src, cv::Size size, bool upsample) {
  if (src.size() == size) return src;
  cv::Mat dst(size, src.type());
  resize_into(src, dst, upsample);
  return dst;
}

void resize_into(const cv::Mat& src, cv::Mat dst, bool upsample) {
  const cv::Size size = dst.size();
  const std::uint8_t* const before = dst.data;
  auto opencv = [&](int interpolation) {
    cv::resize(src, dst, size, 0, 0, interpolation);
    CV_Assert(dst.data == before);  // written in place
  };
  if (src.size() == size) return src.copyTo(dst);
  if (upsample) return opencv(cv::INTER_LINEAR);
  const double scale_x = 1. / (double(size.width) / src.cols), scale_y = 1. / (double(size.height) / src.rows);
  const int ix = cv::saturate_cast<int>(scale_x), iy = cv::saturate_cast<int>(scale_y);
  const bool integral = std::abs(scale_x - ix) < DBL_EPSILON && std::abs(scale_y - iy) < DBL_EPSILON;
  if (integral || scale_x < 1 || scale_y < 1 || src.type() != CV_8UC3) return opencv(cv::INTER_AREA);
  constexpr int cn = 3;
  const std::vector<Weight> xtab = area_table(src.cols, size.width, cn, scale_x);
  const std::vector<Weight> ytab = area_table(src.rows, size.height, 1, scale_y);
  const int width = size.width * cn;
  std::vector<float> buf(static_cast<std::size_t>(width)), sum(static_cast<std::size_t>(width), 0.f);
  int cached = -1, prev_dy = ytab.front().di;
  for (const Weight& yw : ytab) {
    if (yw.si != cached) {
      // Each output pixel's weights are consecutive in xtab: summed in registers, in xtab's
      // order, from 0 (as OpenCV adds them into a zeroed buffer).
      const std::uint8_t* S = src.ptr<std::uint8_t>(yw.si);
      float* b = buf.data();
      for (std::size_t k = 0; k < xtab.size();) {
        const int di = xtab[k].di;
        float a0 = 0.f, a1 = 0.f, a2 = 0.f;
        for (; k < xtab.size() && xtab[k].di == di; ++k) {
          const std::uint8_t* s = S + xtab[k].si;
          const float a = xtab[k].alpha;
          a0 = a0 + s[0] * a, a1 = a1 + s[1] * a, a2 = a2 + s[2] * a;
        }
        b[di] = a0, b[di + 1] = a1, b[di + 2] = a2;
      }
      cached = yw.si;
    }
    const float beta = yw.alpha;
    float* su = sum.data();
    const float* b = buf.data();
    if (yw.di != prev_dy) {
      std::uint8_t* D = dst.ptr<std::uint8_t>(prev_dy);
      for (int i = 0; i < width; ++i) D[i] = cv::saturate_cast<std::uint8_t>(su[i]), su[i] = beta * b[i];
      prev_dy = yw.di;
    } else {
      for (int i = 0; i < width; ++i) su[i] += beta * b[i];
    }
  }
  std::uint8_t* D = dst.ptr<std::uint8_t>(prev_dy);
  for (int i = 0; i < width; ++i) D[i] = cv::saturate_cast<std::uint8_t>(sum[std::size_t(i)]);
}
}  // namespace pydmed
