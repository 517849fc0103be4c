#include "pydmed/slide/slide.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "pydmed/slide/physical.hpp"
#include "slide/readers.hpp"

namespace pydmed {

Slide::Slide(const std::string& path) : Slide(path, std::string()) {}

Slide::Slide(const std::string& path, const std::string& reader) : path_(path), backend_(open_backend(path, reader)) {
  // Kept here, not only in the backend: read_region_salvage may replace the backend, and
  // references from levels() and properties() must stay valid.
  vendor_ = backend_->vendor;
  reader_ = backend_->reader;
  levels_ = backend_->levels;
  properties_ = backend_->properties;
}

Slide::~Slide() = default;
Slide::Slide(Slide&&) noexcept = default;
Slide& Slide::operator=(Slide&&) noexcept = default;

const std::string& Slide::vendor() const { return vendor_; }
std::size_t Slide::resident_bytes_estimate(const std::string& path) { return estimate_resident_bytes(path); }

std::size_t Slide::resident_bytes() const { return backend_->resident_bytes(); }
void Slide::prefetch_region(std::int64_t x, std::int64_t y, int lvl, std::int64_t width, std::int64_t height) const {
  check_region(x, y, lvl, width, height);
  backend_->prefetch(x, y, lvl, width, height);
}

bool Slide::is_remote() const { return is_url(path_); }

void Slide::set_decode_threads(int threads) {
  decode_threads_ = std::max(1, threads);
  backend_->set_decode_threads(decode_threads_);
}
const std::vector<LevelInfo>& Slide::levels() const { return levels_; }
const std::map<std::string, std::string>& Slide::properties() const { return properties_; }

const LevelInfo& Slide::level(int level) const {
  if (level < 0 || level >= level_count()) {
    throw SlideError(path_, "level " + std::to_string(level) + " out of range (the slide has " +
                                std::to_string(level_count()) + " levels)");
  }
  return levels()[static_cast<std::size_t>(level)];
}

std::pair<std::int64_t, std::int64_t> Slide::tile_size(int lvl) const {
  const std::string p = "openslide.level[" + std::to_string(lvl) + "].tile-";
  const auto w = properties_.find(p + "width"), h = properties_.find(p + "height");
  if (w == properties_.end() || h == properties_.end()) return {0, 0};
  try {
    return {std::max<std::int64_t>(0, std::stoll(w->second)), std::max<std::int64_t>(0, std::stoll(h->second))};
  } catch (const std::exception&) {
    return {0, 0};
  }
}

int Slide::best_level_for_downsample(double downsample) const {
  const auto& lv = levels();
  if (!(downsample >= lv[0].downsample)) return 0;
  for (std::size_t i = 1; i < lv.size(); ++i) {
    if (downsample < lv[i].downsample) return static_cast<int>(i) - 1;
  }
  return level_count() - 1;
}

namespace {
std::optional<double> number_property(const std::map<std::string, std::string>& props, const std::string& key) {
  auto it = props.find(key);
  if (it == props.end()) return std::nullopt;
  try {
    double v = std::stod(it->second);
    if (std::isfinite(v) && v > 0) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// OpenSlide's own value, else the TIFF resolution tags (OpenSlide 3.4 gives generic TIFFs none)
// in centimetres. Tags in inches are a picture's dots per inch (72 dpi is not a 352.8 um/px
// scan), and no unit is no scale: neither is an mpp, nor is a value no microscope gives; so
// --slide-mpp or a manifest can supply one.
std::optional<double> mpp(const std::map<std::string, std::string>& props, const char* axis) {
  std::optional<double> v = number_property(props, std::string("openslide.mpp-") + axis);
  if (!v) {
    const auto unit = props.find("tiff.ResolutionUnit");
    const auto res = number_property(props, std::string("tiff.") + (axis[0] == 'x' ? "XResolution" : "YResolution"));
    if (res && unit != props.end() && unit->second == "centimeter") v = 1e4 / *res;
  }
  if (v && !plausible_mpp(*v)) return std::nullopt;
  return v;
}
}  // namespace

std::optional<double> Slide::mpp_x() const { return mpp_x_ ? mpp_x_ : mpp(properties(), "x"); }
std::optional<double> Slide::mpp_y() const { return mpp_y_ ? mpp_y_ : mpp(properties(), "y"); }

void Slide::set_mpp(double x, double y) {
  if (!plausible_mpp(x) || !plausible_mpp(y)) {
    throw SlideError(
        path_, "mpp " + mpp_string(x) + " x " + mpp_string(y) + " is not a microscope's: give " + plausible_mpp_text());
  }
  mpp_x_ = x;
  mpp_y_ = y;
}

std::vector<std::string> Slide::associated_image_names() const { return backend_->associated_image_names(); }

cv::Mat Slide::read_associated_image(const std::string& name) const {
  auto names = associated_image_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    throw SlideError(path_, "no associated image named '" + name + "'");
  }
  return backend_->read_associated_image(name, background_);
}

void Slide::check_region(std::int64_t x, std::int64_t y, int lvl, std::int64_t width, std::int64_t height) const {
  level(lvl);
  // Far beyond any scanner, and small enough that x + width * downsample cannot overflow.
  constexpr std::int64_t kMaxCoordinate = std::int64_t{1} << 40;
  if (x < -kMaxCoordinate || x > kMaxCoordinate || y < -kMaxCoordinate || y > kMaxCoordinate) {
    throw SlideError(path_,
                     "region coordinates (" + std::to_string(x) + ", " + std::to_string(y) + ") are out of range");
  }
  if (width <= 0 || height <= 0) {
    throw SlideError(path_,
                     "region size " + std::to_string(width) + " x " + std::to_string(height) + " must be positive");
  }
  if (width > kMaxRegionPixels / height) {
    throw SlideError(path_, "region size " + std::to_string(width) + " x " + std::to_string(height) +
                                " exceeds the limit of " + std::to_string(kMaxRegionPixels) + " pixels per read");
  }
}

cv::Mat Slide::read_region(std::int64_t x, std::int64_t y, int lvl, std::int64_t width, std::int64_t height) const {
  check_region(x, y, lvl, width, height);
  cv::Mat out(static_cast<int>(height), static_cast<int>(width), CV_8UC3);
  backend_->read_region(out.data, x, y, lvl, width, height, background_);
  return out;
}

void Slide::read_region_into(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int lvl, std::int64_t width,
                             std::int64_t height) const {
  check_region(x, y, lvl, width, height);
  backend_->read_region(rgb, x, y, lvl, width, height, background_);
}

cv::Mat Slide::thumbnail(int max_size) const {
  if (max_size <= 0) throw SlideError(path_, "thumbnail size must be positive");
  const LevelInfo& l0 = levels()[0];
  const double scale = static_cast<double>(std::max(l0.width, l0.height)) / max_size;
  const int tw = std::max<int>(1, static_cast<int>(std::lround(l0.width / std::max(scale, 1e-9))));
  const int th = std::max<int>(1, static_cast<int>(std::lround(l0.height / std::max(scale, 1e-9))));
  const int lvl = best_level_for_downsample(std::max(scale, 1.0));
  const LevelInfo& L = levels()[static_cast<std::size_t>(lvl)];
  // Read the level in horizontal bands so that a huge one-level image never lands in RAM whole.
  cv::Mat thumb(th, tw, CV_8UC3);
  const double src_rows_per_row = double(L.height) / th;
  const int band =
      static_cast<int>(std::clamp<double>((1 << 24) / (double(L.width) * std::max(src_rows_per_row, 1.0)), 1.0, 256.0));
  for (int r0 = 0; r0 < th; r0 += band) {
    const int r1 = std::min(th, r0 + band);
    const std::int64_t sy0 = static_cast<std::int64_t>(std::floor(double(r0) * L.height / th));
    const std::int64_t sy1 =
        std::max<std::int64_t>(sy0 + 1, static_cast<std::int64_t>(std::ceil(double(r1) * L.height / th)));
    cv::Mat src = read_region(0, static_cast<std::int64_t>(std::llround(sy0 * L.downsample)), lvl, L.width,
                              std::min(sy1, L.height) - sy0);
    cv::Mat dst = thumb.rowRange(r0, r1);
    cv::resize(src, dst, dst.size(), 0, 0, cv::INTER_AREA);
  }
  return thumb;
}

}  // namespace pydmed
