// OpenSlide behind SlideBackend. An openslide_t is thread-safe for reads; its errors are sticky,
// so after the first failure every call reports that same error.
#include <openslide/openslide.h>

#include <cstring>
#include <vector>

#include "pydmed/error.hpp"
#include "slide/argb.hpp"
#include "slide/readers.hpp"

namespace pydmed {
namespace {

class OpenSlideBackend : public SlideBackend {
 public:
  // Owns `osr` from the first line, so a throw below still closes it.
  OpenSlideBackend(const std::string& path, const char* vendor_name, openslide_t* osr)
      : path_(path), handle_(osr, &openslide_close), osr_(osr) {
    check("opening");
    vendor = vendor_name;
    const int32_t n = openslide_get_level_count(osr_);
    check("reading the level count");
    for (int32_t i = 0; i < n; ++i) {
      int64_t w = -1, h = -1;
      openslide_get_level_dimensions(osr_, i, &w, &h);
      levels.push_back({w, h, openslide_get_level_downsample(osr_, i)});
    }
    check("reading the levels");
    for (const char* const* p = openslide_get_property_names(osr_); p && *p; ++p) {
      const char* v = openslide_get_property_value(osr_, *p);
      properties[*p] = v ? v : "";
    }
  }
  std::vector<std::string> associated_image_names() const override {
    std::vector<std::string> names;
    for (const char* const* p = openslide_get_associated_image_names(osr_); p && *p; ++p) {
      names.emplace_back(*p);
    }
    return names;
  }

  cv::Mat read_associated_image(const std::string& name, Rgb bg) const override {
    int64_t w = -1, h = -1;
    openslide_get_associated_image_dimensions(osr_, name.c_str(), &w, &h);
    check("reading associated image '" + name + "'");
    if (w <= 0 || h <= 0 || w * h > Slide::kMaxRegionPixels) {
      throw SlideError(path_, "associated image '" + name + "' has an unusable size");
    }
    std::vector<uint32_t> argb(static_cast<size_t>(w * h));
    openslide_read_associated_image(osr_, name.c_str(), argb.data());
    check("reading associated image '" + name + "'");
    cv::Mat out(static_cast<int>(h), static_cast<int>(w), CV_8UC3);
    argb_to_rgb(argb.data(), out.data, argb.size(), bg);
    return out;
  }

  void read_region(uint8_t* rgb, int64_t x, int64_t y, int level, int64_t w, int64_t h, Rgb bg) const override {
    // Reused per thread: BigChunk-sized reads would otherwise page-fault 16 MB every time.
    thread_local std::vector<uint32_t> argb;
    argb.resize(static_cast<size_t>(w * h));
    openslide_read_region(osr_, argb.data(), x, y, level, w, h);
    check("reading region (" + std::to_string(x) + ", " + std::to_string(y) + ") level " + std::to_string(level) +
          " size " + std::to_string(w) + " x " + std::to_string(h));
    argb_to_rgb(argb.data(), rgb, argb.size(), bg);
    if (argb.capacity() > (size_t{1} << 24)) argb = {};  // do not pin a giant buffer forever
  }

  // OpenSlide 3.4.1 gives every handle a tile cache of _OPENSLIDE_USEFUL_CACHE_SIZE
  // (openslide-private.h: 32 MiB), made in create_osr() (openslide.c) and filled up to it.
  std::size_t resident_bytes() const override { return kOpenSlideCacheBytes; }

 private:
  void check(const std::string& what) const {
    if (const char* err = openslide_get_error(osr_)) {
      throw SlideError(path_, "OpenSlide error while " + what + ": " + err);
    }
  }
  std::string path_;
  std::unique_ptr<openslide_t, decltype(&openslide_close)> handle_;
  openslide_t* osr_;
};

}  // namespace

OpenResult open_with_openslide(const std::string& path) {
  OpenResult r;
  // OpenSlide 3.4.1 says nothing about a file no vendor detects: detection errors go to
  // g_message only under OPENSLIDE_DEBUG=detection, which it reads once at library load.
  const char* vendor = openslide_detect_vendor(path.c_str());
  if (!vendor) {
    r.reason = "not a slide format it recognises";
    return r;
  }
  r.recognised = true;
  r.final = std::strcmp(vendor, "generic-tiff") != 0;
  const std::string who = std::string(vendor) + ": ";  // "aperio: <why>"
  openslide_t* osr = openslide_open(path.c_str());
  if (!osr) {  // 3.4.1 does this only for levels out of order, after a g_warning
    r.reason = who + "its reader refused the file without a reason";
    return r;
  }
  if (const char* err = openslide_get_error(osr)) {  // the opener's own reason
    r.reason = who + err;
    openslide_close(osr);
    return r;
  }
  try {
    r.backend = std::make_unique<OpenSlideBackend>(path, vendor, osr);
  } catch (const SlideError& e) {
    r.reason = who + e.reason();
  }
  return r;
}

}  // namespace pydmed
