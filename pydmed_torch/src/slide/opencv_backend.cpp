// Plain PNG/JPEG/TIFF/... images through OpenCV, as one-level slides held in memory.
#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"
#include "slide/backend.hpp"

namespace pydmed {
namespace {

class OpenCVBackend : public SlideBackend {
 public:
  explicit OpenCVBackend(cv::Mat rgb) : image_(std::move(rgb)) {
    vendor = "image";
    levels.push_back({image_.cols, image_.rows, 1.0});
  }

  cv::Mat read_associated_image(const std::string&, Rgb) const override { return {}; }

  void read_region(uint8_t* rgb, int64_t x, int64_t y, int, int64_t w, int64_t h,
                   Rgb bg) const override {
    cv::Mat out(static_cast<int>(h), static_cast<int>(w), CV_8UC3, rgb);
    out.setTo(cv::Scalar(bg.r, bg.g, bg.b));
    // The part of the request that lies inside the image; the rest stays background.
    const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
    const int64_t x1 = std::min<int64_t>(x + w, image_.cols);
    const int64_t y1 = std::min<int64_t>(y + h, image_.rows);
    if (x0 >= x1 || y0 >= y1) return;
    const cv::Rect src(int(x0), int(y0), int(x1 - x0), int(y1 - y0));
    const cv::Rect dst(int(x0 - x), int(y0 - y), src.width, src.height);
    image_(src).copyTo(out(dst));
  }

 private:
  cv::Mat image_;
};

}  // namespace

std::unique_ptr<SlideBackend> open_with_opencv(const std::string& path) {
  // haveImageReader looks at the signature only, so unknown bytes never reach a decoder.
  bool known = false;
  try {
    known = cv::haveImageReader(path);
  } catch (const cv::Exception&) {
  }
  if (!known) {
    throw SlideError(path, "unsupported format: neither OpenSlide nor OpenCV recognises the file");
  }
  cv::Mat bgr;
  try {
    bgr = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw SlideError(path, std::string("OpenCV could not decode the image: ") + e.what());
  }
  if (bgr.empty()) throw SlideError(path, "OpenCV could not decode the image (corrupt or truncated)");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return std::make_unique<OpenCVBackend>(std::move(rgb));
}

}  // namespace pydmed
