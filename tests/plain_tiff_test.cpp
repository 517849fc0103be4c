// TIFFs OpenSlide does not open go through libtiff: header-only open, strips or tiles decoded
// on demand, pixels as OpenCV (or OpenSlide, for a tiled TIFF both read) gives them.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <tiffio.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/slide/sample_slide.hpp"
#include "pydmed/slide/slide.hpp"
#include "slide/readers.hpp"
#include "support.hpp"

using namespace pydmed;
using pydmed::test::TempDir;

namespace {

cv::Vec3b pattern(int x, int y) { return cv::Vec3b(uchar(x * 7 + y), uchar(x ^ (y * 3)), uchar(y * 5)); }

// RGB image of the pattern, w x h.
cv::Mat pattern_rgb(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = pattern(x, y);
  return m;
}

struct TiffLayout {
  int rows_per_strip = 0;  // striped when > 0
  int tile = 0;            // tiled when > 0
  int samples = 3;         // 3: RGB, 1: grey (then no PlanarConfig tag, as libtiff allows)
  std::uint16_t compression = COMPRESSION_LZW;
  bool orientation_tag = false;  // write Orientation (top-left), which libtiff leaves out otherwise
};

// Writes `rgb` (grey: its first channel) with libtiff in the given layout.
void write_tiff(const std::string& path, const cv::Mat& rgb, const TiffLayout& l) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  ASSERT_NE(t, nullptr);
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, std::uint32_t(rgb.cols));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, std::uint32_t(rgb.rows));
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, l.samples);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, l.samples == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
  if (l.samples == 3) TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, l.compression);
  if (l.orientation_tag) TIFFSetField(t, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
  cv::Mat src = rgb;
  if (l.samples == 1) cv::extractChannel(rgb, src, 0);
  const int bpp = l.samples;
  if (l.tile > 0) {
    TIFFSetField(t, TIFFTAG_TILEWIDTH, l.tile);
    TIFFSetField(t, TIFFTAG_TILELENGTH, l.tile);
    std::vector<std::uint8_t> tile(std::size_t(l.tile * l.tile * bpp), 0);
    for (int ty = 0; ty < rgb.rows; ty += l.tile)
      for (int tx = 0; tx < rgb.cols; tx += l.tile) {
        std::fill(tile.begin(), tile.end(), 0);
        for (int y = ty; y < std::min(ty + l.tile, rgb.rows); ++y)
          for (int x = tx; x < std::min(tx + l.tile, rgb.cols); ++x)
            for (int c = 0; c < bpp; ++c)
              tile[std::size_t(((y - ty) * l.tile + (x - tx)) * bpp + c)] = src.ptr(y)[x * bpp + c];
        ASSERT_GE(TIFFWriteTile(t, tile.data(), std::uint32_t(tx), std::uint32_t(ty), 0, 0), 0);
      }
  } else {
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, l.rows_per_strip);
    for (int y = 0; y < rgb.rows; ++y) ASSERT_GE(TIFFWriteScanline(t, src.ptr(y), std::uint32_t(y), 0), 0);
  }
  TIFFClose(t);
}

// Sets the value (and the type, unless 0) of a one-value SHORT or LONG tag in the first
// directory of a little-endian classic TIFF, in place: how a test makes a file no writer would.
void patch_tag(const std::string& path, std::uint16_t tag, std::uint32_t value, std::uint16_t type = 0) {
  std::string b = pydmed::test::read_file(path);
  auto u16 = [&](std::size_t o) {
    return std::uint32_t(std::uint8_t(b[o])) | std::uint32_t(std::uint8_t(b[o + 1])) << 8;
  };
  auto u32 = [&](std::size_t o) { return u16(o) | u16(o + 2) << 16; };
  ASSERT_EQ(b.substr(0, 2), "II");
  const std::size_t ifd = u32(4);
  for (std::uint32_t i = 0; i < u16(ifd); ++i) {
    const std::size_t e = ifd + 2 + 12 * i;
    if (u16(e) != tag) continue;
    ASSERT_EQ(u32(e + 4), 1u) << "tag " << tag << " holds more than one value";
    const int bytes = u16(e + 2) == TIFF_SHORT ? 2 : 4;
    if (type != 0) b[e + 2] = char(type), b[e + 3] = char(type >> 8);
    for (int k = 0; k < bytes; ++k) b[e + 8 + k] = char(value >> (8 * k));
    pydmed::test::write_file(path, b);
    return;
  }
  FAIL() << "no tag " << tag << " in " << path;
}

std::string slide_error(const std::string& path) {
  try {
    Slide s(path);
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return "";
}

// Expects `m` to be the pattern for the region at (x, y), background outside w x h.
void expect_region(const cv::Mat& m, const cv::Mat& image, int x, int y, cv::Vec3b bg) {
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) {
      const int ix = x + c, iy = y + r;
      const bool inside = ix >= 0 && iy >= 0 && ix < image.cols && iy < image.rows;
      ASSERT_EQ(m.at<cv::Vec3b>(r, c), inside ? image.at<cv::Vec3b>(iy, ix) : bg) << "pixel " << ix << ", " << iy;
    }
}

TEST(PlainTiff, StripedRgbMatchesOpenCVAcrossStripsAndEdges) {
  TempDir d;
  const cv::Mat rgb = pattern_rgb(70, 50);
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  ASSERT_TRUE(cv::imwrite(d.file("cv.tif"), bgr));
  write_tiff(d.file("lzw7.tif"), rgb, {7, 0, 3, COMPRESSION_LZW});
  write_tiff(d.file("deflate3.tif"), rgb, {3, 0, 3, COMPRESSION_ADOBE_DEFLATE});
  write_tiff(d.file("grey5.tif"), rgb, {5, 0, 1, COMPRESSION_NONE});  // through the RGBA path
  for (const char* name : {"cv.tif", "lzw7.tif", "deflate3.tif", "grey5.tif"}) {
    SCOPED_TRACE(name);
    const auto p = d.file(name);
    cv::Mat want = cv::imread(p, cv::IMREAD_COLOR);
    ASSERT_FALSE(want.empty());
    cv::cvtColor(want, want, cv::COLOR_BGR2RGB);
    Slide s(p);
    EXPECT_EQ(s.vendor(), "tiff");
    EXPECT_EQ(s.reader(), "libtiff");
    ASSERT_EQ(s.level_count(), 1);
    EXPECT_EQ(s.levels()[0].width, 70);
    EXPECT_EQ(s.levels()[0].height, 50);
    s.set_background({200, 201, 202});
    expect_region(s.read_region(0, 0, 0, 70, 50), want, 0, 0, {200, 201, 202});
    expect_region(s.read_region(10, 5, 0, 20, 17), want, 10, 5, {200, 201, 202});      // crosses strips
    expect_region(s.read_region(-3, -2, 0, 10, 6), want, -3, -2, {200, 201, 202});     // top-left corner
    expect_region(s.read_region(60, 44, 0, 20, 20), want, 60, 44, {200, 201, 202});    // bottom-right corner
    expect_region(s.read_region(500, 500, 0, 4, 4), want, 500, 500, {200, 201, 202});  // all outside
  }
}

// OpenSlide's own TIFF parser refuses a tag of an unknown type, which libtiff skips: a tiled
// TIFF OpenSlide does not open, read through libtiff.
TEST(PlainTiff, TiledTiffOpenSlideRefusesIsReadThroughLibtiff) {
  TempDir d;
  const cv::Mat rgb = pattern_rgb(100, 90);
  const auto p = d.file("odd_tag.tif");
  TiffLayout layout;
  layout.tile = 32;
  layout.orientation_tag = true;
  write_tiff(p, rgb, layout);
  patch_tag(p, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT, 99);
  Slide s(p);
  EXPECT_EQ(s.vendor(), "tiff");
  expect_region(s.read_region(20, 25, 0, 70, 50), rgb, 20, 25, {255, 255, 255});
  expect_region(s.read_region(90, 80, 0, 30, 30), rgb, 90, 80, {255, 255, 255});
  // The tile kept between reads, plus libtiff's buffers for one tile.
  EXPECT_GE(s.resident_bytes(), 32u * 32u * 4u);
  EXPECT_LT(s.resident_bytes(), 32u * 32u * 4u + 3u * (32u * 32u * 3u));  // LZW may grow a tile
}

// Both readers decode a tiled TIFF that OpenSlide opens: libtiff's must equal OpenSlide's.
TEST(PlainTiff, TiledReaderEqualsOpenSlide) {
  TempDir d;
  const auto lzw = d.file("lzw_tiled.tif"), jpeg = d.file("sample.tif");
  write_tiff(lzw, pattern_rgb(300, 200), {0, 64, 3, COMPRESSION_LZW});
  write_sample_slide(jpeg, SampleSlideOptions().width(700).height(500).tile_size(128));
  for (const auto& p : {lzw, jpeg}) {
    SCOPED_TRACE(p);
    Slide s(p, "openslide");
    ASSERT_EQ(s.vendor(), "generic-tiff");
    EXPECT_EQ(s.resident_bytes(), std::size_t{32} << 20);  // OpenSlide 3.4.1's tile cache
    OpenResult r = open_with_tiff(p);
    ASSERT_TRUE(r.backend) << r.reason;
    ASSERT_EQ(r.backend->levels[0].width, s.levels()[0].width);
    const cv::Mat want = s.read_region(-5, 30, 0, 310, 150);
    cv::Mat got(150, 310, CV_8UC3);
    r.backend->read_region(got.data, -5, 30, 0, 310, 150, s.background());
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0);
  }
}

// One handle and one cached strip serve every thread: reads take turns and stay exact.
TEST(PlainTiff, ConcurrentReadsAgree) {
  TempDir d;
  const cv::Mat rgb = pattern_rgb(300, 400);
  const auto p = d.file("threads.tif");
  write_tiff(p, rgb, {5, 0, 3, COMPRESSION_LZW});
  const Slide s(p);
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const int x = (i * 37 + t * 11) % 280, y = (i * 53 + t * 29) % 380;
        const cv::Mat m = s.read_region(x, y, 0, 20, 20);
        if (cv::norm(m, rgb(cv::Rect(x, y, 20, 20)), cv::NORM_INF) != 0) ++bad[std::size_t(t)];
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

// Rows of 20000 RGB pixels, deflated once each and written raw, so that the file stays small.
constexpr int kHuge = 20000;
cv::Vec3b huge_pixel(int x, int y) {
  if (y >= 10000 && y < 10016) return cv::Vec3b(uchar(x), uchar(y), uchar(x >> 8));
  return cv::Vec3b(uchar(30 * (y % 8)), 77, uchar(y % 8));
}

// A kHuge x kHuge deflated RGB TIFF open for writing, `rows` rows a strip (null on failure).
TIFF* open_huge_rgb(const std::string& path, std::uint32_t rows) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  if (!t) return nullptr;
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, std::uint32_t(kHuge));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, std::uint32_t(kHuge));
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rows);
  return t;
}

void write_huge_striped(const std::string& path) {
  TIFF* t = open_huge_rgb(path, 1);
  ASSERT_NE(t, nullptr);
  auto deflate_row = [](int y) {
    std::vector<std::uint8_t> row(kHuge * 3);
    for (int x = 0; x < kHuge; ++x)
      for (int c = 0; c < 3; ++c) row[std::size_t(3 * x + c)] = huge_pixel(x, y)[c];
    uLongf n = compressBound(uLong(row.size()));
    std::vector<std::uint8_t> z(n);
    compress2(z.data(), &n, row.data(), uLong(row.size()), 9);
    z.resize(n);
    return z;
  };
  std::vector<std::vector<std::uint8_t>> constant_rows;
  for (int k = 0; k < 8; ++k) constant_rows.push_back(deflate_row(k));
  for (int y = 0; y < kHuge; ++y) {
    const auto z = (y >= 10000 && y < 10016) ? deflate_row(y) : constant_rows[std::size_t(y % 8)];
    ASSERT_GE(TIFFWriteRawStrip(t, std::uint32_t(y), const_cast<std::uint8_t*>(z.data()), tmsize_t(z.size())), 0);
  }
  TIFFClose(t);
}

long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Peak RSS growth in KiB of `work` run in a child (whose peak starts at its size at fork).
long child_peak_growth_kb(const std::function<void()>& work) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    long growth = -2;
    try {
      const long before = peak_rss_kb();
      work();
      growth = peak_rss_kb() - before;
    } catch (...) {
    }
    (void)!write(fds[1], &growth, sizeof growth);
    _exit(0);
  }
  close(fds[1]);
  long growth = -3;
  if (read(fds[0], &growth, sizeof growth) != sizeof growth) growth = -4;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return growth;
}

TEST(PlainTiff, HugeStripedTiffOpensFromItsHeader) {
  TempDir d;
  const auto p = d.file("huge.tif");
  write_huge_striped(p);
  ASSERT_LT(pydmed::test::read_file(p).size(), 8u << 20);  // small on disk, 1.2 GB decoded
  const long growth_kb = child_peak_growth_kb([&] {
    Slide s(p);
    if (s.read_region(9990, 9995, 0, 40, 30).total() != 1200) throw 1;
  });
  ASSERT_GE(growth_kb, 0) << "the child failed";
  EXPECT_LT(growth_kb, 64 * 1024) << "open and a small read should not decode the image";

  Slide s(p);
  EXPECT_EQ(s.vendor(), "tiff");
  EXPECT_EQ(s.levels()[0].width, kHuge);
  EXPECT_EQ(s.levels()[0].height, kHuge);
  EXPECT_LT(s.resident_bytes(), 1u << 20);  // one 20000-pixel row and libtiff's buffers
  s.set_background({1, 2, 3});
  for (const auto& [x, y] : {std::pair<int, int>{9990, 9995}, {19990, 19985}, {123, 10012}}) {
    const cv::Mat m = s.read_region(x, y, 0, 40, 30);
    for (int r = 0; r < m.rows; ++r)
      for (int c = 0; c < m.cols; ++c) {
        const int ix = x + c, iy = y + r;
        const cv::Vec3b want = ix < kHuge && iy < kHuge ? huge_pixel(ix, iy) : cv::Vec3b(1, 2, 3);
        ASSERT_EQ(m.at<cv::Vec3b>(r, c), want) << ix << ", " << iy;
      }
  }
}

TEST(PlainTiff, OneGiantStripIsRefusedAtOpen) {
  TempDir d;
  const auto p = d.file("one_strip.tif");
  TIFF* t = open_huge_rgb(p, kHuge);
  ASSERT_NE(t, nullptr);
  char junk[16] = {};
  TIFFWriteRawStrip(t, 0, junk, sizeof junk);
  TIFFClose(t);
  const std::string e = slide_error(p);
  EXPECT_NE(e.find("libtiff: one strip of this TIFF holds 20000 x 20000 pixels, more than the limit of 67108864 "
                   "(rewrite it tiled, e.g. vips tiffsave --tile --pyramid)"),
            std::string::npos)
      << e;
}

TEST(PlainTiff, StripPastTheEndOfTheFileIsTruncation) {
  TempDir d;
  const auto p = d.file("cut.tif");
  write_tiff(p, pattern_rgb(40, 30), {30, 0, 3, COMPRESSION_NONE});  // one strip
  patch_tag(p, TIFFTAG_STRIPOFFSETS, std::uint32_t(pydmed::test::read_file(p).size() - 100));
  const std::string e = slide_error(p);
  EXPECT_NE(e.find("libtiff: strip 0 ends at byte"), std::string::npos) << e;
  EXPECT_NE(e.find("the file is truncated"), std::string::npos) << e;
}

TEST(PlainTiff, FirstDirectoryPastTheEndIsTruncation) {
  TempDir d;
  const auto whole = d.file("whole.tif"), cut = d.file("cut.tif");
  write_tiff(whole, pattern_rgb(40, 30), {10, 0, 3, COMPRESSION_NONE});
  const std::string b = pydmed::test::read_file(whole);
  pydmed::test::write_file(cut, b.substr(0, b.size() / 2));  // libtiff writes the directory last
  const std::string e = slide_error(cut);
  EXPECT_NE(e.find("libtiff: the first directory is at byte"), std::string::npos) << e;
  EXPECT_NE(e.find("past the end of the file (" + std::to_string(b.size() / 2) + " bytes): the file is truncated"),
            std::string::npos)
      << e;
}

// A tiled TIFF OpenSlide detects as generic-tiff but cannot open, and libtiff cannot either:
// OpenSlide's own reason comes first.
TEST(PlainTiff, RecognisedTiffKeepsOpenSlidesReason) {
  if (TIFFIsCODECConfigured(34712)) GTEST_SKIP() << "this libtiff decodes JPEG 2000 tiles";
  TempDir d;
  const auto p = d.file("jp2k.tif");
  write_tiff(p, pattern_rgb(64, 64), {0, 32, 3, COMPRESSION_NONE});
  patch_tag(p, TIFFTAG_COMPRESSION, 34712);  // JPEG 2000, which neither decodes here
  const std::string e = slide_error(p);
  EXPECT_NE(e.find(": cannot open: OpenSlide: generic-tiff: Unsupported TIFF compression: 34712; libtiff: "),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("; OpenCV: not tried"), std::string::npos) << e;
}

// A damaged strip: one line naming the rows, other strips still read, nothing on stderr.
TEST(PlainTiff, DamagedStripIsOneLineAndSilent) {
  TempDir d;
  const auto p = d.file("damaged.tif");
  const cv::Mat rgb = pattern_rgb(64, 64);
  write_tiff(p, rgb, {8, 0, 3, COMPRESSION_ADOBE_DEFLATE});
  {
    TIFF* t = TIFFOpen(p.c_str(), "r");
    ASSERT_NE(t, nullptr);
    const std::uint64_t off = TIFFGetStrileOffset(t, 3);
    TIFFClose(t);
    std::string b = pydmed::test::read_file(p);
    b[off] = 0, b[off + 1] = 0;  // the zlib header of strip 3 (rows 24-31)
    pydmed::test::write_file(p, b);
  }
  const std::string err_file = d.file("stderr.txt");
  std::fflush(stderr);
  const int saved = dup(2);
  FILE* f = std::fopen(err_file.c_str(), "w");
  dup2(fileno(f), 2);
  std::string message;
  cv::Mat ok;
  {
    Slide s(p);
    try {
      s.read_region(0, 20, 0, 64, 8);
    } catch (const SlideError& e) {
      message = e.what();
    }
    ok = s.read_region(0, 0, 0, 64, 24);
  }
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(f);
  EXPECT_EQ(pydmed::test::read_file(err_file), "");
  EXPECT_NE(message.find(p + ": libtiff could not decode the strip of rows 24-31: "), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  expect_region(ok, rgb, 0, 0, {255, 255, 255});
}

}  // namespace
