// Patch transforms: what they do, and that a seed fixes them.
#include <gtest/gtest.h>

#include "pydmed/engine/transforms.hpp"

using namespace pydmed;

namespace {

cv::Mat ramp() {
  cv::Mat m(4, 6, CV_8UC3);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x * 10), uchar(y * 10), 100);
  return m;
}

TEST(Transforms, FlipAndRotate) {
  Rng rng(1);
  const cv::Mat h = transforms::random_flip(1.0, 0.0)(ramp(), rng);
  EXPECT_EQ(h.at<cv::Vec3b>(0, 0), ramp().at<cv::Vec3b>(0, 5));
  const cv::Mat v = transforms::random_flip(0.0, 1.0)(ramp(), rng);
  EXPECT_EQ(v.at<cv::Vec3b>(0, 0), ramp().at<cv::Vec3b>(3, 0));
  std::set<int> shapes;
  for (int i = 0; i < 40; ++i) shapes.insert(transforms::random_rot90()(ramp(), rng).rows);
  EXPECT_EQ(shapes, (std::set<int>{4, 6})) << "some rotations by 90 degrees, some not";
}

TEST(Transforms, JitterResizeComposeAndSeeds) {
  const auto t = transforms::compose({transforms::color_jitter(0.3, 0.3, 0.3), transforms::resize(2, 3)});
  Rng a({7, 1}), b({7, 1}), c({7, 2});
  const cv::Mat x = t(ramp(), a), y = t(ramp(), b), z = t(ramp(), c);
  EXPECT_EQ(x.rows, 2);
  EXPECT_EQ(x.cols, 3);
  EXPECT_EQ(cv::norm(x, y, cv::NORM_INF), 0) << "same stream, same result";
  EXPECT_GT(cv::norm(x, z, cv::NORM_INF), 0) << "another stream, another jitter";
  Rng r(3);
  const cv::Mat same = transforms::color_jitter(0, 0, 0)(ramp(), r);
  EXPECT_LE(cv::norm(same, ramp(), cv::NORM_INF), 1);
}

}  // namespace
