#pragma once
// Private: what Slide needs from a reader. Each backend reports its own errors as SlideError.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pydmed/slide/slide.hpp"

namespace pydmed {

class SlideBackend {
 public:
  virtual ~SlideBackend() = default;
  std::string vendor;
  std::vector<LevelInfo> levels;
  std::map<std::string, std::string> properties;
  virtual std::vector<std::string> associated_image_names() const { return {}; }
  virtual cv::Mat read_associated_image(const std::string& name, Rgb bg) const = 0;
  // Checked arguments: level valid, sizes positive and bounded.
  virtual void read_region(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level,
                           std::int64_t w, std::int64_t h, Rgb bg) const = 0;
};

// nullptr when OpenSlide does not recognise the file; throws for a recognised but bad one.
std::unique_ptr<SlideBackend> open_with_openslide(const std::string& path);
// Throws SlideError when OpenCV cannot decode it either.
std::unique_ptr<SlideBackend> open_with_opencv(const std::string& path);

}  // namespace pydmed
