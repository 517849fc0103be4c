#pragma once
// PyDmed's heatmaps: per-window outputs of a whole-slide run (a vector per window) as a raster
// aligned with the slide, saved as an array (.npy) and drawn over the thumbnail (PNG).
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

struct WindowValue {
  std::int64_t x = 0, y = 0;  // level-0 pixels
  int level = 0;
  int width = 0, height = 0;  // pixels of the level
  std::vector<float> values;
};

class Heatmap {
 public:
  // One cell per `downsample` level-0 pixels; each cell holds the mean of the windows that
  // cover its centre, NaN where none does.
  static Heatmap from_windows(const Slide& slide, const std::vector<WindowValue>& windows, double downsample);
  // Rows of a CSV written by StreamCollector (patient,x,y,level,width,height,v0,v1,...) for
  // one patient. Throws Error naming the file and line on a malformed row.
  static std::vector<WindowValue> read_csv(const std::string& path, std::int64_t patient);

  const cv::Mat& values() const { return values_; }  // CV_32FC(n), rows x cols of cells
  double downsample() const { return downsample_; }
  int channels() const { return values_.channels(); }

  void save_npy(const std::string& path) const;  // float32, shape (rows, cols, channels)
  // Channel `channel` scaled to [0, 255] between its min and max, through an OpenCV colour map,
  // blended over the slide's thumbnail (longest side `size`, or the heatmap's if larger);
  // cells without windows show the thumbnail alone; the annotations' outlines on top when given. BGR.
  cv::Mat overlay(const Slide& slide, int channel = 0, double alpha = 0.5, int colormap = cv::COLORMAP_JET,
                  int size = 1024, const Annotations* roi = nullptr) const;
  void save_png(const std::string& path, const Slide& slide, int channel = 0, const Annotations* roi = nullptr) const;

 private:
  cv::Mat values_;
  double downsample_ = 1;
};

}  // namespace pydmed
