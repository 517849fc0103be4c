#include "pydmed/engine/stain.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "pydmed/error.hpp"

namespace pydmed::stain {

namespace {

// N x 3 optical densities (double) of an RGB image, one row per pixel.
cv::Mat1d optical_density(const cv::Mat& rgb) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("stain: needs an RGB uint8 image");
  cv::Mat1d od(int(rgb.total()), 3);
  int i = 0;
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* p = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < rgb.cols; ++x, ++i)
      for (int c = 0; c < 3; ++c) od(i, c) = -std::log((p[x][c] + 1.0) / 256.0);
  }
  return od;
}

// Back from N x 3 optical densities to an image of `size`.
cv::Mat to_rgb(const cv::Mat1d& od, cv::Size size) {
  cv::Mat out(size, CV_8UC3);
  int i = 0;
  for (int y = 0; y < size.height; ++y) {
    auto* p = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < size.width; ++x, ++i)
      for (int c = 0; c < 3; ++c) p[x][c] = cv::saturate_cast<std::uint8_t>(256.0 * std::exp(-od(i, c)) - 1.0);
  }
  return out;
}

double percentile(std::vector<double> v, double pct) {
  if (v.empty()) return 0;
  const auto k = std::size_t(std::clamp(pct / 100.0, 0.0, 1.0) * double(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
  return v[k];
}

// Least-squares concentrations (N x 2) of OD rows (N x 3) in the two stains' basis.
cv::Mat1d concentrations(const cv::Mat1d& od, const cv::Matx32d& stains) {
  const cv::Matx23d pinv = (stains.t() * stains).inv() * stains.t();
  return od * cv::Mat1d(cv::Mat(pinv.t()));
}

// The fit, or nothing when there is too little tissue.
bool try_fit(const cv::Mat1d& od, const MacenkoOptions& o, MacenkoFit& fit) {
  std::vector<int> tissue;
  for (int i = 0; i < od.rows; ++i)
    if (od(i, 0) >= o.od_threshold() && od(i, 1) >= o.od_threshold() && od(i, 2) >= o.od_threshold())
      tissue.push_back(i);
  if (int(tissue.size()) < o.min_pixels()) return false;
  cv::Mat1d t(int(tissue.size()), 3);
  for (std::size_t k = 0; k < tissue.size(); ++k) od.row(tissue[k]).copyTo(t.row(int(k)));
  // The plane of the two largest eigenvectors of the OD covariance.
  cv::Mat covar, mean, evals, evecs;
  cv::calcCovarMatrix(t, covar, mean, cv::COVAR_NORMAL | cv::COVAR_ROWS | cv::COVAR_SCALE, CV_64F);
  cv::eigen(covar, evals, evecs);  // descending eigenvalues, eigenvectors as rows
  cv::Vec3d e1(evecs.ptr<double>(0)), e2(evecs.ptr<double>(1));
  // Pointing into positive OD, so angles are comparable.
  if (e1[0] + e1[1] + e1[2] < 0) e1 = -e1;
  if (e2[0] + e2[1] + e2[2] < 0) e2 = -e2;
  std::vector<double> angle(tissue.size());
  for (std::size_t k = 0; k < tissue.size(); ++k) {
    const cv::Vec3d v(t.ptr<double>(int(k)));
    angle[k] = std::atan2(v.dot(e2), v.dot(e1));
  }
  const double lo = percentile(angle, o.angle_percentile()), hi = percentile(angle, 100 - o.angle_percentile());
  cv::Vec3d a = e1 * std::cos(lo) + e2 * std::sin(lo), b = e1 * std::cos(hi) + e2 * std::sin(hi);
  a = cv::normalize(a), b = cv::normalize(b);
  // One colour (a pen mark, a flat region): no two stains to tell apart.
  if (std::abs(a.dot(b)) > 0.99) return false;
  // Haematoxylin absorbs more red than eosin does: it goes first.
  if (a[0] < b[0]) std::swap(a, b);
  for (int r = 0; r < 3; ++r) fit.stains(r, 0) = a[r], fit.stains(r, 1) = b[r];
  const cv::Mat1d c = concentrations(t, fit.stains);
  for (int s = 0; s < 2; ++s) {
    std::vector<double> col(std::size_t(c.rows));
    for (int i = 0; i < c.rows; ++i) col[std::size_t(i)] = c(i, s);
    fit.max_concentration[std::size_t(s)] = percentile(col, 99);
    if (!(fit.max_concentration[std::size_t(s)] > 1e-3)) return false;  // a stain that is not there
  }
  return true;
}

}  // namespace

MacenkoFit fit_macenko(const cv::Mat& rgb, const MacenkoOptions& o) {
  MacenkoFit fit;
  if (!try_fit(optical_density(rgb), o, fit))
    throw Error("stain: fewer than " + std::to_string(o.min_pixels()) +
                " stained pixels to fit a Macenko stain matrix to");
  return fit;
}

cv::Mat normalize_macenko(const cv::Mat& rgb, const MacenkoFit& target, const MacenkoOptions& o) {
  const cv::Mat1d od = optical_density(rgb);
  MacenkoFit own;
  if (!try_fit(od, o, own)) return rgb;  // background: nothing to normalise
  cv::Mat1d c = concentrations(od, own.stains);
  for (int s = 0; s < 2; ++s)
    c.col(s) *= target.max_concentration[std::size_t(s)] / own.max_concentration[std::size_t(s)];
  return to_rgb(c * cv::Mat1d(cv::Mat(target.stains.t())), rgb.size());
}

namespace {
cv::Mat lab_of(const cv::Mat& rgb) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("stain: needs an RGB uint8 image");
  cv::Mat f, lab;
  rgb.convertTo(f, CV_32F, 1.0 / 255.0);
  cv::cvtColor(f, lab, cv::COLOR_RGB2Lab);
  return lab;
}
}  // namespace

ReinhardFit fit_reinhard(const cv::Mat& rgb) {
  cv::Scalar mean, sd;
  cv::meanStdDev(lab_of(rgb), mean, sd);
  ReinhardFit fit;
  for (int c = 0; c < 3; ++c) fit.mean[std::size_t(c)] = mean[c], fit.std[std::size_t(c)] = sd[c];
  return fit;
}

cv::Mat normalize_reinhard(const cv::Mat& rgb, const ReinhardFit& target) {
  cv::Mat lab = lab_of(rgb);
  cv::Scalar mean, sd;
  cv::meanStdDev(lab, mean, sd);
  std::vector<cv::Mat> ch;
  cv::split(lab, ch);
  for (int c = 0; c < 3; ++c) {
    const double scale = sd[c] > 1e-6 ? target.std[std::size_t(c)] / sd[c] : 1.0;
    ch[std::size_t(c)].convertTo(ch[std::size_t(c)], CV_32F, scale, target.mean[std::size_t(c)] - mean[c] * scale);
  }
  cv::merge(ch, lab);
  cv::Mat f, out;
  cv::cvtColor(lab, f, cv::COLOR_Lab2RGB);
  f.convertTo(out, CV_8U, 255.0);
  return out;
}

cv::Matx33d hed_stains() {
  cv::Matx33d m(0.65, 0.70, 0.29,   // haematoxylin
                0.07, 0.99, 0.11,   // eosin
                0.27, 0.57, 0.78);  // DAB
  for (int r = 0; r < 3; ++r) {
    const double n = std::sqrt(m(r, 0) * m(r, 0) + m(r, 1) * m(r, 1) + m(r, 2) * m(r, 2));
    for (int c = 0; c < 3; ++c) m(r, c) /= n;
  }
  return m;
}

cv::Mat hed_jitter(const cv::Mat& rgb, double sigma, double bias, Rng& rng) {
  double scale[3], shift[3];
  for (double& s : scale) s = 1 + sigma * (2 * rng.uniform() - 1);
  for (double& s : shift) s = bias * (2 * rng.uniform() - 1);
  const cv::Matx33d m = hed_stains();
  const cv::Mat1d to_hed{cv::Mat(m.inv())}, from_hed{cv::Mat(m)};
  cv::Mat1d hed = optical_density(rgb) * to_hed;  // OD = HED x M
  for (int c = 0; c < 3; ++c) hed.col(c) = hed.col(c) * scale[c] + shift[c];
  return to_rgb(hed * from_hed, rgb.size());
}

}  // namespace pydmed::stain

namespace pydmed::transforms {

PatchTransform macenko(const stain::MacenkoFit& target, const stain::MacenkoOptions& options) {
  return [target, options](const cv::Mat& m, Rng&) { return stain::normalize_macenko(m, target, options); };
}
PatchTransform reinhard(const stain::ReinhardFit& target) {
  return [target](const cv::Mat& m, Rng&) { return stain::normalize_reinhard(m, target); };
}
PatchTransform hed_jitter(double sigma, double bias) {
  if (sigma < 0 || bias < 0) throw OptionsError("hed_jitter", "sigma and bias must be >= 0");
  return [sigma, bias](const cv::Mat& m, Rng& rng) { return stain::hed_jitter(m, sigma, bias, rng); };
}

}  // namespace pydmed::transforms
