// Plain images open as one-level slides: PNG and JPEG through OpenCV, sized from their header
// and decoded on the first read; TIFF through libtiff.
#include <gtest/gtest.h>
#include <zlib.h>

#include <opencv2/imgcodecs.hpp>

#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using namespace pydmed;

TEST(ImageSlide, PngAndTiffOpenAsOneLevelWithExactPixels) {
  pydmed::test::TempDir d;
  cv::Mat bgr(50, 70, CV_8UC3);
  for (int y = 0; y < 50; ++y)
    for (int x = 0; x < 70; ++x) bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x), uchar(y), uchar(x + y));
  for (const char* name : {"img.png", "img.tif"}) {
    const auto p = d.file(name);
    ASSERT_TRUE(cv::imwrite(p, bgr));
    Slide s(p);
    EXPECT_EQ(s.vendor(), std::string(name) == "img.png" ? "image" : "tiff");
    ASSERT_EQ(s.level_count(), 1);
    EXPECT_EQ(s.levels()[0].width, 70);
    EXPECT_EQ(s.levels()[0].height, 50);
    EXPECT_FALSE(s.mpp_x().has_value());
    s.set_background({200, 201, 202});
    // Straddles the top-left corner: the outside is background, the inside is RGB of the file.
    const cv::Mat m = s.read_region(-3, -2, 0, 10, 6);
    EXPECT_EQ(m.at<cv::Vec3b>(0, 0), cv::Vec3b(200, 201, 202));
    EXPECT_EQ(m.at<cv::Vec3b>(5, 9), cv::Vec3b(9, 3, 6));  // file pixel x=6, y=3: B=6, G=3, R=9
    EXPECT_EQ(s.best_level_for_downsample(10.0), 0);
  }
}

TEST(ImageSlide, JpegOpensAndThumbnailKeepsAspect) {
  pydmed::test::TempDir d;
  cv::Mat bgr(300, 600, CV_8UC3, cv::Scalar(10, 200, 30));
  const auto p = d.file("img.jpg");
  ASSERT_TRUE(cv::imwrite(p, bgr));
  Slide s(p);
  const cv::Mat t = s.thumbnail(100);
  EXPECT_EQ(t.cols, 100);
  EXPECT_EQ(t.rows, 50);
  const cv::Vec3b c = t.at<cv::Vec3b>(25, 50);
  EXPECT_NEAR(c[0], 30, 3);  // RGB order
  EXPECT_NEAR(c[1], 200, 3);
  EXPECT_NEAR(c[2], 10, 3);
}

namespace {

// A PNG signature and IHDR chunk for w x h RGB, then `rest`.
std::string png_header(std::uint32_t w, std::uint32_t h, const std::string& rest) {
  std::string ihdr = "IHDR";
  for (std::uint32_t v : {w, h})
    for (int k = 3; k >= 0; --k) ihdr += char(v >> (8 * k));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, deflate, no filter, no interlace
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(ihdr.data()), uInt(ihdr.size()));
  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string("\x00\x00\x00\x0d", 4) + ihdr;
  for (int k = 3; k >= 0; --k) png += char(crc >> (8 * k));
  return png + rest;
}

std::string open_error(const std::string& path) {
  try {
    Slide s(path);
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), path);
    return e.what();
  }
  ADD_FAILURE() << "no error for " << path;
  return "";
}

}  // namespace

TEST(ImageSlide, HugePngIsRefusedFromItsHeader) {
  pydmed::test::TempDir d;
  const auto p = d.file("huge.png");
  pydmed::test::write_file(p, png_header(60000, 60000, std::string(1000, '\x55')));
  const std::string e = open_error(p);
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  EXPECT_NE(e.find(p + ": cannot open: "), std::string::npos) << e;
  EXPECT_NE(e.find("OpenCV: the image is 60000 x 60000 pixels, more than the limit of 268435456 pixels decoded whole"),
            std::string::npos)
      << e;
}

// Opening reads the header only: a PNG whose data is garbage opens with the header's size, and
// the first read, which decodes, fails with one line (and again, without decoding twice).
TEST(ImageSlide, PngAndJpegOpenFromTheHeaderAndDecodeOnFirstRead) {
  pydmed::test::TempDir d;
  const auto png = d.file("garbage.png");
  pydmed::test::write_file(png, png_header(700, 500, std::string(1000, '\x55')));
  cv::Mat bgr(300, 400, CV_8UC3, cv::Scalar(10, 200, 30));
  std::vector<uchar> jpg_bytes;
  ASSERT_TRUE(cv::imencode(".jpg", bgr, jpg_bytes));
  const auto jpg = d.file("cut.jpg");
  const std::string jpg_all(jpg_bytes.begin(), jpg_bytes.end());
  const std::size_t sof = jpg_all.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  pydmed::test::write_file(jpg, jpg_all.substr(0, sof + 19));  // cut after the frame header: no scan
  for (const auto& [p, w, h] : {std::tuple<std::string, int, int>{png, 700, 500}, {jpg, 400, 300}}) {
    SCOPED_TRACE(p);
    Slide s(p);
    EXPECT_EQ(s.vendor(), "image");
    EXPECT_EQ(s.reader(), "opencv");
    EXPECT_EQ(s.levels()[0].width, w);
    EXPECT_EQ(s.levels()[0].height, h);
    EXPECT_EQ(s.resident_bytes(), std::size_t(w) * h * 3);
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        s.read_region(0, 0, 0, 10, 10);
        ADD_FAILURE() << "garbage decoded";
      } catch (const SlideError& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(p + ": OpenCV: could not decode the image"), std::string::npos)
            << e.what();
      }
    }
  }
}

// A JPEG with an Exif block before its frame header still gets its size from the header.
TEST(ImageSlide, JpegSizeComesFromTheFrameHeaderPastOtherSegments) {
  pydmed::test::TempDir d;
  cv::Mat bgr(37, 53, CV_8UC3, cv::Scalar(1, 2, 3));
  std::vector<uchar> b;
  ASSERT_TRUE(cv::imencode(".jpg", bgr, b));
  // An APP1 segment of 5000 bytes right after SOI.
  std::string app1 = "\xFF\xE1";
  app1 += char(5002 >> 8), app1 += char(5002 & 0xFF);
  app1 += std::string(5000, '\xFF');
  const std::string bytes = std::string(b.begin(), b.begin() + 2) + app1 + std::string(b.begin() + 2, b.end());
  const auto p = d.file("exif.jpg");
  pydmed::test::write_file(p, bytes);
  Slide s(p);
  EXPECT_EQ(s.levels()[0].width, 53);
  EXPECT_EQ(s.levels()[0].height, 37);
  const cv::Vec3b c = s.read_region(20, 20, 0, 1, 1).at<cv::Vec3b>(0, 0);
  EXPECT_NEAR(c[0], 3, 2);
  EXPECT_NEAR(c[2], 1, 2);
}
