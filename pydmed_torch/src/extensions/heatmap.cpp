#include "pydmed/extensions/heatmap.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "pydmed/error.hpp"
#include "pydmed/output_file.hpp"

namespace pydmed {

Heatmap Heatmap::from_windows(const Slide& slide, const std::vector<WindowValue>& windows, double downsample) {
  if (!(downsample > 0)) throw Error(slide.path() + ": heatmap downsample must be positive");
  const LevelInfo& l0 = slide.levels()[0];
  const int cols = std::max(1, int(std::ceil(double(l0.width) / downsample)));
  const int rows = std::max(1, int(std::ceil(double(l0.height) / downsample)));
  const int n = windows.empty() ? 1 : int(windows.front().values.size());
  if (n < 1 || n > CV_CN_MAX) throw Error(slide.path() + ": heatmap windows need 1 to 512 values");
  cv::Mat sum(rows, cols, CV_32FC(n), cv::Scalar::all(0)), count(rows, cols, CV_32F, cv::Scalar(0));
  for (const WindowValue& w : windows) {
    if (int(w.values.size()) != n) throw Error(slide.path() + ": every window needs the same number of values");
    const double ds = slide.level(w.level).downsample;
    // Cells whose centre lies inside the window's level-0 footprint.
    const int c0 = std::max(0, int(std::ceil(double(w.x) / downsample - 0.5)));
    const int r0 = std::max(0, int(std::ceil(double(w.y) / downsample - 0.5)));
    const int c1 = std::min(cols, int(std::ceil((double(w.x) + w.width * ds) / downsample - 0.5)));
    const int r1 = std::min(rows, int(std::ceil((double(w.y) + w.height * ds) / downsample - 0.5)));
    for (int r = r0; r < r1; ++r) {
      float* s = sum.ptr<float>(r);
      float* c = count.ptr<float>(r);
      for (int col = c0; col < c1; ++col) {
        for (int k = 0; k < n; ++k) s[col * n + k] += w.values[std::size_t(k)];
        c[col] += 1;
      }
    }
  }
  Heatmap h;
  h.downsample_ = downsample;
  h.values_ = cv::Mat(rows, cols, CV_32FC(n));
  for (int r = 0; r < rows; ++r) {
    const float* s = sum.ptr<float>(r);
    const float* c = count.ptr<float>(r);
    float* v = h.values_.ptr<float>(r);
    for (int col = 0; col < cols; ++col)
      for (int k = 0; k < n; ++k)
        v[col * n + k] = c[col] > 0 ? s[col * n + k] / c[col] : std::numeric_limits<float>::quiet_NaN();
  }
  return h;
}

std::vector<WindowValue> Heatmap::read_csv(const std::string& path, std::int64_t patient) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot read the CSV");
  std::vector<WindowValue> out;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (lineno == 1 || line.empty()) continue;  // the header
    std::stringstream ss(line);
    std::string cell;
    std::vector<std::string> f;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    try {
      if (f.size() < 7) throw std::invalid_argument("fewer than 7 fields");
      if (std::stoll(f[0]) != patient) continue;
      WindowValue w;
      w.x = std::stoll(f[1]), w.y = std::stoll(f[2]), w.level = std::stoi(f[3]);
      w.width = std::stoi(f[4]), w.height = std::stoi(f[5]);
      for (std::size_t i = 6; i < f.size(); ++i) w.values.push_back(std::stof(f[i]));
      out.push_back(std::move(w));
    } catch (const std::exception& e) {
      throw Error(path + ":" + std::to_string(lineno) + ": malformed row (" + e.what() + ")");
    }
  }
  return out;
}

void Heatmap::save_npy(const std::string& path) const {
  OutputFile f(path, OutputFile::Mode::Atomic);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(values_.rows) + ", " +
                       std::to_string(values_.cols) + ", " + std::to_string(values_.channels()) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  const std::uint16_t len = std::uint16_t(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.write(&len, 2);
  f.write(header);
  for (int r = 0; r < values_.rows; ++r) f.write(values_.ptr(r), values_.cols * values_.elemSize());
  f.close();
}

cv::Mat Heatmap::overlay(const Slide& slide, int channel, double alpha, int colormap, int size,
                         const Annotations* roi) const {
  if (channel < 0 || channel >= channels())
    throw Error(slide.path() + ": heatmap has no channel " + std::to_string(channel));
  std::vector<cv::Mat> ch;
  cv::split(values_, ch);
  const cv::Mat& v = ch[std::size_t(channel)];
  const cv::Mat valid = v == v;  // false on NaN
  double lo = 0, hi = 1;
  cv::minMaxLoc(v, &lo, &hi, nullptr, nullptr, valid);
  cv::Mat scaled;
  v.convertTo(scaled, CV_8U, hi > lo ? 255.0 / (hi - lo) : 0, hi > lo ? -lo * 255.0 / (hi - lo) : 0);
  cv::Mat colour, thumb, mask;
  cv::applyColorMap(scaled, colour, colormap);
  cv::cvtColor(slide.thumbnail(std::max({size, values_.cols, values_.rows})), thumb, cv::COLOR_RGB2BGR);
  // Cells stay sharp: nearest-neighbour up to the thumbnail's size.
  cv::resize(colour, colour, thumb.size(), 0, 0, cv::INTER_NEAREST);
  cv::resize(valid, mask, thumb.size(), 0, 0, cv::INTER_NEAREST);
  cv::Mat out;
  cv::addWeighted(thumb, 1 - alpha, colour, alpha, 0, out);
  thumb.copyTo(out, ~mask);
  if (roi)
    roi->draw(out, double(out.cols) / double(slide.levels()[0].width),
              double(out.rows) / double(slide.levels()[0].height));
  return out;
}

void Heatmap::save_png(const std::string& path, const Slide& slide, int channel, const Annotations* roi) const {
  write_image(path, overlay(slide, channel, 0.5, cv::COLORMAP_JET, 1024, roi));
}

}  // namespace pydmed
