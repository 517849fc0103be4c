// OpenCV's INTER_AREA (its generic path: resizeArea_ with computeResizeAreaTab's weights),
// the same float operations in the same order; built with -ffp-contract=off so no multiply-add
// is fused where OpenCV's is not.
#include "pydmed/slide/physical.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
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
// Each output pixel's weights (OpenCV's, in its order) as taps: its first source pixel and k
// weights, k the most any output pixel has, padded with zero weights at the end. A sum of
// non-negative products gains nothing bit for bit from + 0, so every output keeps OpenCV's value.
struct Taps {
  int k = 0;
  std::vector<int> first;  // source float offset of each output pixel's first tap
  std::vector<float> w;    // k per output pixel
  // The same weights, each repeated over 4 lanes (loaded as they are, no broadcast).
  std::vector<float> w4;
};
Taps taps_of(const std::vector<Weight>& xtab, int dsize, int cn) {
  Taps t;
  std::vector<int> count(std::size_t(dsize), 0);
  for (const Weight& e : xtab) ++count[std::size_t(e.di / cn)];
  t.k = *std::max_element(count.begin(), count.end());
  t.first.assign(std::size_t(dsize), -1);
  t.w.assign(std::size_t(dsize) * std::size_t(t.k), 0.f);
  std::vector<int> filled(std::size_t(dsize), 0);
  for (const Weight& e : xtab) {  // an output's taps are consecutive source pixels, in order
    const std::size_t d = std::size_t(e.di / cn);
    if (t.first[d] < 0) t.first[d] = e.si;
    t.w[d * std::size_t(t.k) + std::size_t(filled[d]++)] = e.alpha;
  }
  t.w4.resize(t.w.size() * 4);
  for (std::size_t i = 0; i < t.w.size(); ++i) std::fill_n(t.w4.begin() + std::ptrdiff_t(4 * i), 4, t.w[i]);
  return t;
}

// The horizontal pass over one source row (floats, RGB): out[3 dx + c] = sum over taps j, in
// order, of row[first + 3 j + c] x w[j], the first product taken as it is (OpenCV adds it to 0).
// SSE2 does a pixel's three channels in one 4-lane vector, the same operations per lane.
#if defined(__SSE2__)
// K taps known when compiled (the common factors), so the loop unrolls; w4: each weight x 4 lanes.
template <int K>
void horizontal_k(const float* row, const int* first, const float* w4, int dsize, float* out) {
  for (int dx = 0; dx < dsize; ++dx, w4 += 4 * K) {
    const float* f = row + first[dx];
    __m128 acc = _mm_mul_ps(_mm_loadu_ps(f), _mm_loadu_ps(w4));
    for (int j = 1; j < K; ++j) acc = _mm_add_ps(acc, _mm_mul_ps(_mm_loadu_ps(f + 3 * j), _mm_loadu_ps(w4 + 4 * j)));
    _mm_storeu_ps(out + 3 * dx, acc);  // its fourth lane is overwritten by the next pixel (or slack)
  }
}
#endif

void horizontal(const float* row, const Taps& t, int dsize, float* out) {
  const int k = t.k;
#if defined(__SSE2__)
  const int* first = t.first.data();
  const float* w4 = t.w4.data();
  switch (k) {
    case 2:
      return horizontal_k<2>(row, first, w4, dsize, out);
    case 3:
      return horizontal_k<3>(row, first, w4, dsize, out);
    case 4:
      return horizontal_k<4>(row, first, w4, dsize, out);
    case 5:
      return horizontal_k<5>(row, first, w4, dsize, out);
    default:
      break;
  }
#endif
  for (int dx = 0; dx < dsize; ++dx) {
    const float* f = row + t.first[std::size_t(dx)];
    const float* w = t.w.data() + std::size_t(dx) * std::size_t(k);
#if defined(__SSE2__)
    __m128 acc = _mm_mul_ps(_mm_loadu_ps(f), _mm_set1_ps(w[0]));
    for (int j = 1; j < k; ++j) acc = _mm_add_ps(acc, _mm_mul_ps(_mm_loadu_ps(f + 3 * j), _mm_set1_ps(w[j])));
    _mm_storeu_ps(out + 3 * dx, acc);
#else
    float a0 = f[0] * w[0], a1 = f[1] * w[0], a2 = f[2] * w[0];
    for (int j = 1; j < k; ++j) a0 = a0 + f[3 * j] * w[j], a1 = a1 + f[3 * j + 1] * w[j], a2 = a2 + f[3 * j + 2] * w[j];
    out[3 * dx] = a0, out[3 * dx + 1] = a1, out[3 * dx + 2] = a2;
#endif
  }
}

// saturate_cast<uchar> of each sum: round to nearest even (cvRound, the SSE conversion), clamp.
void store_row(const float* su, int width, std::uint8_t* D) {
  int i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= width; i += 16) {
    const __m128i a = _mm_cvtps_epi32(_mm_loadu_ps(su + i)), b = _mm_cvtps_epi32(_mm_loadu_ps(su + i + 4)),
                  c = _mm_cvtps_epi32(_mm_loadu_ps(su + i + 8)), d = _mm_cvtps_epi32(_mm_loadu_ps(su + i + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(D + i), _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)));
  }
#endif
  for (; i < width; ++i) D[i] = cv::saturate_cast<std::uint8_t>(su[i]);
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
  const Taps taps = taps_of(xtab, size.width, cn);
  const int width = size.width * cn;
  // The source row as floats, with room for the padded taps past its end (zeros), and the
  // horizontal sums with one float of slack for the 4-lane stores.
  std::vector<float> row(std::size_t(src.cols + taps.k + 1) * cn, 0.f);
  std::vector<float> buf(static_cast<std::size_t>(width) + 1), sum(static_cast<std::size_t>(width), 0.f);
  int cached = -1, prev_dy = ytab.front().di;
  for (const Weight& yw : ytab) {
    if (yw.si != cached) {
      const std::uint8_t* S = src.ptr<std::uint8_t>(yw.si);
      for (int i = 0; i < src.cols * cn; ++i) row[std::size_t(i)] = float(S[i]);
      horizontal(row.data(), taps, size.width, buf.data());
      cached = yw.si;
    }
    const float beta = yw.alpha;
    float* su = sum.data();
    const float* b = buf.data();
    if (yw.di != prev_dy) {
      store_row(su, width, dst.ptr<std::uint8_t>(prev_dy));
      for (int i = 0; i < width; ++i) su[i] = beta * b[i];
      prev_dy = yw.di;
    } else {
      for (int i = 0; i < width; ++i) su[i] += beta * b[i];
    }
  }
  store_row(sum.data(), width, dst.ptr<std::uint8_t>(prev_dy));
}
}  // namespace pydmed
