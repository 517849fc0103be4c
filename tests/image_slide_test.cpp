// Plain images open as one-level slides through OpenCV.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

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
    EXPECT_EQ(s.vendor(), "image");
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
