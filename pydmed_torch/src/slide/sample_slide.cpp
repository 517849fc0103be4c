#include "pydmed/slide/sample_slide.hpp"

#include <tiffio.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/random.hpp"
#include "slide/tiff_log.hpp"
#include "slide/tile_painter.hpp"

namespace pydmed {
namespace {

constexpr int kNucleusCell = 16;  // level-0 pixels per nucleus cell (at most one nucleus each)
constexpr int kFieldStep = 16;    // level-0 pixels between samples of the smooth fields

float lattice(std::uint64_t seed, std::int64_t ix, std::int64_t iy) {
  return float(splitmix64(seed ^ splitmix64(std::uint64_t(ix) * 0x9E37 + splitmix64(std::uint64_t(iy)))) >> 40) /
         float(1 << 24);
}

// Smooth value noise in [0, 1) with lattice cells of `cell` level-0 pixels.
float value_noise(std::uint64_t seed, double x, double y, double cell) {
  const double fx = x / cell, fy = y / cell;
  const auto ix = std::int64_t(std::floor(fx)), iy = std::int64_t(std::floor(fy));
  double tx = fx - ix, ty = fy - iy;
  tx = tx * tx * (3 - 2 * tx), ty = ty * ty * (3 - 2 * ty);
  const float a = lattice(seed, ix, iy), b = lattice(seed, ix + 1, iy);
  const float c = lattice(seed, ix, iy + 1), d = lattice(seed, ix + 1, iy + 1);
  return float((a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty);
}

struct Blob {
  double cx, cy, rx, ry, cos_a, sin_a;
};

// The procedural slide: tissue blobs with ragged edges, eosin texture and nuclei.
class SampleImage : public TilePainter {
 public:
  explicit SampleImage(const SampleSlideOptions& o) : o_(o) {
    Rng rng({o.seed(), 0x5A11DE});
    const double m = double(std::min(o.width(), o.height()));
    const int n = 3 + int(rng.below(5));
    for (int i = 0; i < n; ++i) {
      const double a = rng.uniform() * M_PI;
      blobs_.push_back({o.width() * (0.2 + 0.6 * rng.uniform()), o.height() * (0.2 + 0.6 * rng.uniform()),
                        m * (0.08 + 0.17 * rng.uniform()), m * (0.08 + 0.17 * rng.uniform()), std::cos(a),
                        std::sin(a)});
    }
    edge_cell_ = std::max(64.0, m / 12);
    dense_ = o.label() != 0;
    presence_ = dense_ ? 0.55 : 0.22;
    rmin_ = dense_ ? 4.0 : 2.5, rmax_ = dense_ ? 7.0 : 4.5;
  }

  // Positive inside tissue, growing towards the blob centres.
  double tissue(double x, double y) const {
    double t = -1.0;
    for (const Blob& b : blobs_) {
      const double dx = x - b.cx, dy = y - b.cy;
      const double u = (dx * b.cos_a + dy * b.sin_a) / b.rx, v = (-dx * b.sin_a + dy * b.cos_a) / b.ry;
      t = std::max(t, 1.0 - std::sqrt(u * u + v * v));
    }
    return t + 0.45 * (value_noise(o_.seed() ^ 0xED6E, x, y, edge_cell_) - 0.5);
  }
  double stain(double x, double y) const { return value_noise(o_.seed() ^ 0x57A1, x, y, 96.0); }

  // One tile of level `ds` (level-0 pixels per pixel), corner at level pixel (px, py), RGB.
  void paint(cv::Mat& tile, std::int64_t px, std::int64_t py, double ds) const override {
    const int n = tile.rows;
    const double x0 = px * ds, y0 = py * ds, span = n * ds;
    // Smooth fields on a coarse grid, interpolated per pixel: cheap at any size.
    const int g = std::max(2, int(std::ceil(span / kFieldStep)) + 1);
    cv::Mat tg(g, g, CV_32F), sg(g, g, CV_32F);
    const double step = span / (g - 1);
    for (int j = 0; j < g; ++j)
      for (int i = 0; i < g; ++i) {
        tg.at<float>(j, i) = float(tissue(x0 + i * step, y0 + j * step));
        sg.at<float>(j, i) = float(stain(x0 + i * step, y0 + j * step));
      }
    // Bilinear weights from each pixel's centre to the grid: continuous across tile edges.
    std::vector<int> gi(n);
    std::vector<float> gw(n);
    for (int i = 0; i < n; ++i) {
      const double f = std::min((i + 0.5) * ds / step, double(g - 1) - 1e-6);
      gi[i] = int(f), gw[i] = float(f - gi[i]);
    }
    auto field = [&](const cv::Mat& m, int j, int i) {
      const float* a = m.ptr<float>(gi[j]);
      const float* b = m.ptr<float>(gi[j] + 1);
      const float top = a[gi[i]] + gw[i] * (a[gi[i] + 1] - a[gi[i]]);
      const float bottom = b[gi[i]] + gw[i] * (b[gi[i] + 1] - b[gi[i]]);
      return top + gw[j] * (bottom - top);
    };
    // Beyond the level's detail, nuclei blend into the eosin as their expected coverage.
    const bool draw_nuclei = ds <= 4.0;
    const double r2 = (rmin_ * rmin_ + rmin_ * rmax_ + rmax_ * rmax_) / 3.0;
    const double coverage = draw_nuclei ? 0.0 : presence_ * M_PI * r2 / (kNucleusCell * kNucleusCell);
    for (int j = 0; j < n; ++j) {
      auto* row = tile.ptr<std::uint8_t>(j);
      for (int i = 0; i < n; ++i) {
        const std::uint64_t h =
            splitmix64(std::uint64_t(py + j) * 0x100000001B3ULL ^ std::uint64_t(px + i) ^ (std::uint64_t(ds) << 56));
        const float grain = float(h & 0xFF) / 255.f - 0.5f;
        const float a = std::clamp(field(tg, j, i) / 0.01f, 0.f, 1.f);  // a soft tissue edge
        const float k = 0.75f + 0.5f * field(sg, j, i);
        float r = 236 - 30 * k, gg = 150 - 45 * k, b = 196 - 25 * k;  // eosin
        r += float(coverage) * (95 - r), gg += float(coverage) * (45 - gg), b += float(coverage) * (150 - b);
        row[3 * i + 0] = cv::saturate_cast<std::uint8_t>(244 + a * (r - 244) + 6 * grain);
        row[3 * i + 1] = cv::saturate_cast<std::uint8_t>(243 + a * (gg - 243) + 6 * grain);
        row[3 * i + 2] = cv::saturate_cast<std::uint8_t>(245 + a * (b - 245) + 6 * grain);
      }
    }
    if (!draw_nuclei) return;
    const auto c0x = std::int64_t(std::floor(x0 / kNucleusCell)) - 1;
    const auto c0y = std::int64_t(std::floor(y0 / kNucleusCell)) - 1;
    const auto c1x = std::int64_t(std::ceil((x0 + span) / kNucleusCell)) + 1;
    const auto c1y = std::int64_t(std::ceil((y0 + span) / kNucleusCell)) + 1;
    for (auto cy = c0y; cy < c1y; ++cy) {
      for (auto cx = c0x; cx < c1x; ++cx) {
        Rng cell({o_.seed(), 0xCE11, std::uint64_t(cx), std::uint64_t(cy)});
        if (cell.uniform() >= presence_) continue;
        const double rad = rmin_ + (rmax_ - rmin_) * cell.uniform();
        const double nx = (cx + 0.5) * kNucleusCell + (cell.uniform() - 0.5) * (kNucleusCell - 2 * rad);
        const double ny = (cy + 0.5) * kNucleusCell + (cell.uniform() - 0.5) * (kNucleusCell - 2 * rad);
        if (tissue(nx, ny) < 0.04) continue;
        const double shade = 0.8 + 0.4 * cell.uniform();
        const cv::Scalar colour(90 * shade, 45 * shade, 140 * shade);
        // 4 fractional bits keep sub-pixel centres, so levels agree with each other.
        const cv::Point c(int(std::lround((nx / ds - px) * 16)), int(std::lround((ny / ds - py) * 16)));
        cv::circle(tile, c, std::max(1, int(std::lround(rad / ds * 16))), colour, cv::FILLED, cv::LINE_AA, 4);
      }
    }
  }

 private:
  SampleSlideOptions o_;
  std::vector<Blob> blobs_;
  double edge_cell_;
  bool dense_;
  double presence_, rmin_, rmax_;
};

}  // namespace

int write_sample_slide(const std::string& path, const SampleSlideOptions& o) {
  const int ts = o.tile_size();
  if (o.width() <= 0 || o.height() <= 0 || o.width() > 1000000 || o.height() > 1000000) {
    throw Error(path + ": sample slide size must be between 1 and 1,000,000 pixels a side");
  }
  if (ts < 16 || ts % 16 != 0) throw Error(path + ": tile size must be a positive multiple of 16");
  // Classic TIFF offsets are 32-bit; switch to BigTIFF well before JPEG output could reach 4 GiB.
  const bool big = double(o.width()) * double(o.height()) > 1.5e9;
  // libtiff's messages are kept on the handle (not printed) and the OS reason goes in ours.
  TiffErrors errors;
  errno = 0;
  const TiffPtr tif = open_tiff(path, big ? "w8" : "w", &errors);
  if (!tif) throw Error(path + ": cannot create the TIFF file: " + (errno ? std::strerror(errno) : errors.last));
  const std::unique_ptr<TilePainter> image = o.source().empty()
                                                 ? std::unique_ptr<TilePainter>(std::make_unique<SampleImage>(o))
                                                 : make_mosaic_painter(o.source(), o.seed());
  const std::string description = "pydmed_torch sample slide; label=" + std::to_string(o.label()) +
                                  "; seed=" + std::to_string(o.seed()) +
                                  (o.source().empty() ? "" : "; mosaic of " + o.source());
  cv::Mat tile(ts, ts, CV_8UC3);
  std::int64_t w = o.width(), h = o.height();
  int level = 0;
  const int step = o.level_step();
  if (step != 2 && step != 4) throw Error(path + ": level_step must be 2 or 4, not " + std::to_string(step));
  for (double ds = 1.0;; ds *= step, ++level) {
    TIFF* t = tif.get();
    TIFFSetField(t, TIFFTAG_SUBFILETYPE, level == 0 ? 0 : FILETYPE_REDUCEDIMAGE);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, std::uint32_t(w));
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, std::uint32_t(h));
    TIFFSetField(t, TIFFTAG_TILEWIDTH, std::uint32_t(ts));
    TIFFSetField(t, TIFFTAG_TILELENGTH, std::uint32_t(ts));
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
    TIFFSetField(t, TIFFTAG_YCBCRSUBSAMPLING, 2, 2);
    TIFFSetField(t, TIFFTAG_JPEGQUALITY, o.jpeg_quality());
    TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);  // libtiff converts RGB to YCbCr
    TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
    TIFFSetField(t, TIFFTAG_XRESOLUTION, float(1e4 / (o.mpp() * ds)));
    TIFFSetField(t, TIFFTAG_YRESOLUTION, float(1e4 / (o.mpp() * ds)));
    if (level == 0) TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, description.c_str());
    for (std::int64_t ty = 0; ty < h; ty += ts) {
      for (std::int64_t tx = 0; tx < w; tx += ts) {
        image->paint(tile, tx, ty, ds);
        // Beyond the image edge: background, so that padding compresses to nothing.
        if (tx + ts > w) tile.colRange(int(w - tx), ts).setTo(cv::Scalar(244, 243, 245));
        if (ty + ts > h) tile.rowRange(int(h - ty), ts).setTo(cv::Scalar(244, 243, 245));
        errno = 0;
        if (TIFFWriteTile(t, tile.data, std::uint32_t(tx), std::uint32_t(ty), 0, 0) < 0) {
          throw Error(path + ": writing a tile failed: " + (errno ? std::strerror(errno) : errors.last));
        }
      }
    }
    errno = 0;
    if (!TIFFWriteDirectory(t)) {
      throw Error(path + ": writing a TIFF directory failed: " + (errno ? std::strerror(errno) : errors.last));
    }
    if (w <= ts && h <= ts) break;
    w = std::max<std::int64_t>(1, (w + step - 1) / step);
    h = std::max<std::int64_t>(1, (h + step - 1) / step);
  }
  return level + 1;
}

}  // namespace pydmed
