#pragma once
// Private: what Slide needs from a reader, and the registry that picks one for a file.
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pydmed/slide/slide.hpp"

namespace pydmed {

// OpenSlide's tile cache, per handle, in 3.4.1 (_OPENSLIDE_USEFUL_CACHE_SIZE).
constexpr std::size_t kOpenSlideCacheBytes = std::size_t{32} << 20;

class SlideBackend {
 public:
  virtual ~SlideBackend() = default;
  std::string reader;  // which backend: "openslide", "tiff", "opencv" (pydmed info's "reader")
  std::string vendor;
  std::vector<LevelInfo> levels;
  std::map<std::string, std::string> properties;
  virtual std::vector<std::string> associated_image_names() const { return {}; }
  virtual cv::Mat read_associated_image(const std::string& name, Rgb bg) const = 0;
  // Checked arguments: level valid, sizes positive and bounded. Throws SlideError.
  virtual void read_region(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level,
                           std::int64_t w, std::int64_t h, Rgb bg) const = 0;
  // Upper bound of the memory held for reads (see Slide::resident_bytes).
  virtual std::size_t resident_bytes() const = 0;
};

// One backend's verdict on a file. Openers never throw for a bad file; they say why here.
struct OpenResult {
  std::unique_ptr<SlideBackend> backend;  // null: not opened
  std::string reason;                     // why not, one line, without the path
  bool recognised = false;                // the file is in a format this backend claims
  bool final = false;                     // the verdict stands: no later backend may take the file
};

// A vendor OpenSlide detects but cannot open is final, except generic-tiff (libtiff may
// still read a tiled TIFF OpenSlide refuses).
OpenResult open_with_openslide(const std::string& path);
// TIFF files: the first directory, header only; strips or tiles decoded on demand.
OpenResult open_with_tiff(const std::string& path);
// PNG and JPEG sized from their header and decoded on the first read; other formats OpenCV
// knows decoded now. TIFF is left to libtiff (OpenCV reads TIFF through libtiff anyway).
OpenResult open_with_opencv(const std::string& path);

// OpenSlide, then libtiff, then OpenCV; the first that opens `path`. Otherwise throws
// SlideError with every backend's reason, OpenSlide's first, on one line.
std::unique_ptr<SlideBackend> open_backend(const std::string& path);

}  // namespace pydmed
