#pragma once
// A whole-slide image (any vendor format OpenSlide knows) or a plain PNG/JPEG/TIFF image
// (through OpenCV, as a one-level slide), read as RGB uint8, height x width x 3.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace pydmed {

struct LevelInfo {
  std::int64_t width = 0;
  std::int64_t height = 0;
  double downsample = 1.0;  // level-0 pixels per pixel of this level
};

struct Rgb {
  std::uint8_t r = 255, g = 255, b = 255;
};

class SlideBackend;  // OpenSlide or OpenCV, behind the same face

class Slide {
 public:
  // Largest region one read may return, in pixels (1 GiB of ARGB): a guard against absurd sizes.
  static constexpr std::int64_t kMaxRegionPixels = std::int64_t{1} << 28;

  // Opens `path`; throws SlideError naming the path and the reason (missing, a directory,
  // empty, not a format OpenSlide or OpenCV reads, or OpenSlide's own error).
  explicit Slide(const std::string& path);
  ~Slide();
  Slide(Slide&&) noexcept;
  Slide& operator=(Slide&&) noexcept;

  const std::string& path() const { return path_; }
  // OpenSlide's vendor ("aperio", "generic-tiff", ...), or "image" for OpenCV-read files.
  const std::string& vendor() const;
  int level_count() const { return static_cast<int>(levels().size()); }
  const std::vector<LevelInfo>& levels() const;
  const LevelInfo& level(int level) const;  // throws SlideError when out of range
  // The level whose downsample is the largest not above `downsample` (OpenSlide's rule).
  int best_level_for_downsample(double downsample) const;
  std::optional<double> mpp_x() const;
  std::optional<double> mpp_y() const;
  const std::map<std::string, std::string>& properties() const;

  std::vector<std::string> associated_image_names() const;
  cv::Mat read_associated_image(const std::string& name) const;

  // Colour given to transparent pixels (outside the scanned area or the image).
  void set_background(Rgb bg) { background_ = bg; }
  Rgb background() const { return background_; }

  // The region of `width` x `height` pixels of `level` whose top-left corner is at (x, y) in
  // level-0 pixels, as OpenSlide defines it. Returns a contiguous CV_8UC3 Mat in RGB order.
  // Pixels outside the slide get the background colour. Throws SlideError for a level out of
  // range, a non-positive or absurd size, or a decode failure.
  cv::Mat read_region(std::int64_t x, std::int64_t y, int level, std::int64_t width,
                      std::int64_t height) const;
  // Same, into caller-owned memory of width * height * 3 bytes (e.g. shared memory).
  void read_region_into(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level,
                        std::int64_t width, std::int64_t height) const;

  // The whole slide scaled to fit in max_size x max_size, aspect kept (RGB).
  cv::Mat thumbnail(int max_size) const;

 private:
  void check_region(std::int64_t x, std::int64_t y, int level, std::int64_t width,
                    std::int64_t height) const;

  std::string path_;
  std::unique_ptr<SlideBackend> backend_;
  Rgb background_;
};

}  // namespace pydmed
