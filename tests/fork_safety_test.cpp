// A root that already ran multithreaded OpenCV (TBB) work and has busy threads of its own
// starts and stops the loader a hundred times without hanging.
#include <gtest/gtest.h>

#include <atomic>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "engine_helpers.hpp"

using namespace pydmed;
using namespace pydmed::test;

TEST(ForkSafety, HundredStartsAndStopsWithABusyMultithreadedRoot) {
  cv::Mat big(3000, 3000, CV_8UC3, cv::Scalar(10, 20, 30)), small;
  cv::resize(big, small, {700, 700});  // starts OpenCV's thread pool
  std::atomic<bool> done{false};
  std::thread busy([&] {  // keeps OpenCV's pool and malloc busy during every fork
    while (!done) {
      cv::Mat o;
      cv::resize(big, o, {1000, 1000});
      cv::GaussianBlur(o, o, {5, 5}, 0);
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    LightDLCore dl(sample_dataset(2), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                   test_options());
    ASSERT_EQ(consume(dl, 8, 8).records.size(), 8u) << "round " << i;
  }
  done = true;
  busy.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 120.0) << "a hundred rounds should take seconds, not minutes";
}
