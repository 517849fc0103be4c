// Plain images through OpenCV, as one-level slides held in memory. PNG and JPEG are sized from
// their header and decoded on the first read, so opening one (pydmed info) costs nothing and an
// absurd size is refused before any decoding; other formats decode when opened.
#include <algorithm>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"
#include "slide/readers.hpp"
#include "slide/image_header.hpp"

namespace pydmed {
namespace {

// Largest image decoded whole: 2^28 pixels, 768 MiB as RGB.
constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 28;

// A cv::Exception's what() spans lines (version, source file, function); keep its message.
std::string one_line(const cv::Exception& e) {
  std::string s = e.err.empty() ? e.what() : e.err + (e.func.empty() ? "" : " (in " + e.func + ")");
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string too_large(std::int64_t w, std::int64_t h) {
  return "the image is " + std::to_string(w) + " x " + std::to_string(h) + " pixels, more than the limit of " +
         std::to_string(kMaxImagePixels) + " pixels decoded whole (convert it to a tiled TIFF, e.g. vips tiffsave " +
         "--tile --pyramid)";
}

// RGB of the whole file, or throws SlideError whose reason leaves out "OpenCV" (the caller
// names the reader). EXIF orientation is ignored, as OpenSlide does, so that the pixels match
// the size the header gave.
cv::Mat decode(const std::string& path) {
  cv::Mat img;
  try {
    img = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    throw SlideError(path, "could not decode the image: " + one_line(e));
  }
  if (img.empty()) throw SlideError(path, "could not decode the image (corrupt or truncated)");
  if (std::int64_t(img.cols) * img.rows > kMaxImagePixels) throw SlideError(path, too_large(img.cols, img.rows));
  cv::cvtColor(img, img, cv::COLOR_BGR2RGB);  // in place: one image's worth of memory
  return img;
}

class OpenCVBackend : public SlideBackend {
 public:
  // `rgb` empty: decode `path` on the first read.
  OpenCVBackend(std::string path, std::int64_t w, std::int64_t h, cv::Mat rgb)
      : path_(std::move(path)), image_(std::move(rgb)) {
    vendor = "image";
    levels.push_back({w, h, 1.0});
  }

  cv::Mat read_associated_image(const std::string&, Rgb) const override { return {}; }

  void read_region(uint8_t* rgb, int64_t x, int64_t y, int, int64_t w, int64_t h, Rgb bg) const override {
    const cv::Mat& image = decoded();
    cv::Mat out(static_cast<int>(h), static_cast<int>(w), CV_8UC3, rgb);
    out.setTo(cv::Scalar(bg.r, bg.g, bg.b));
    // The part of the request that lies inside the image; the rest stays background.
    const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
    const int64_t x1 = std::min<int64_t>(x + w, image.cols);
    const int64_t y1 = std::min<int64_t>(y + h, image.rows);
    if (x0 >= x1 || y0 >= y1) return;
    const cv::Rect src(int(x0), int(y0), int(x1 - x0), int(y1 - y0));
    const cv::Rect dst(int(x0 - x), int(y0 - y), src.width, src.height);
    image(src).copyTo(out(dst));
  }

  // The whole decoded image, whether or not it has been decoded yet.
  std::size_t resident_bytes() const override { return std::size_t(levels[0].width * levels[0].height * 3); }

 private:
  // The image, decoding it once; a failure is kept and thrown again without a second decode.
  const cv::Mat& decoded() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.empty()) throw SlideError(path_, error_);
    if (image_.empty()) {
      try {
        cv::Mat img = decode(path_);
        if (img.cols != levels[0].width || img.rows != levels[0].height) {
          throw SlideError(path_, "gave an image of " + std::to_string(img.cols) + " x " + std::to_string(img.rows) +
                                      " pixels, not the " + std::to_string(levels[0].width) + " x " +
                                      std::to_string(levels[0].height) + " its header gives");
        }
        image_ = std::move(img);
      } catch (const SlideError& e) {
        error_ = "OpenCV: " + e.reason();
        throw SlideError(path_, error_);
      }
    }
    return image_;  // never changes once decoded, so callers may read it unlocked
  }

  std::string path_;
  mutable std::mutex mu_;
  mutable cv::Mat image_;
  mutable std::string error_;
};

}  // namespace

OpenResult open_with_opencv(const std::string& path) {
  OpenResult r;
  const ImageKind kind = sniff_image_kind(path);
  if (kind == ImageKind::kTiff) {
    r.recognised = true;
    r.reason = "not tried (it reads TIFF through libtiff)";
    return r;
  }
  if (kind == ImageKind::kPng || kind == ImageKind::kJpeg) {
    r.recognised = true;
    const auto size = kind == ImageKind::kPng ? png_size(path) : jpeg_size(path);
    if (!size || size->width <= 0 || size->height <= 0) {
      r.reason =
          kind == ImageKind::kPng ? "no valid IHDR chunk in the PNG header" : "no valid SOF marker in the JPEG header";
      return r;
    }
    if (size->width * size->height > kMaxImagePixels) {
      r.reason = too_large(size->width, size->height);
      return r;
    }
    r.backend = std::make_unique<OpenCVBackend>(path, size->width, size->height, cv::Mat());
    return r;
  }
  // Other formats: haveImageReader looks at the signature only, so unknown bytes never reach a decoder.
  try {
    r.recognised = cv::haveImageReader(path);
  } catch (const cv::Exception&) {
  }
  if (!r.recognised) {
    r.reason = "not an image format it reads";
    return r;
  }
  try {
    cv::Mat rgb = decode(path);
    r.backend = std::make_unique<OpenCVBackend>(path, rgb.cols, rgb.rows, rgb);
  } catch (const SlideError& e) {
    r.reason = e.reason();
  }
  return r;
}

}  // namespace pydmed
