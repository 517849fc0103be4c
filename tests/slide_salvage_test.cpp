// One damaged JPEG tile costs its own pixels, not the slide: read_region_salvage reopens the
// slide (OpenSlide's errors are sticky on a handle) and reads around the tile.
#include <gtest/gtest.h>

#include <cstdio>
#include <opencv2/core.hpp>

#include "damaged_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"

using namespace pydmed;
using pydmed::test::TempDir;

namespace {

constexpr int kTile = pydmed::test::DamagedSlide::kTile;
constexpr int kBadCol = 3, kBadRow = 2;  // the damaged level-0 tile: pixels 768-1023 x 512-767

struct Slides : pydmed::test::DamagedSlide {
  Slides() : DamagedSlide({{kBadCol, kBadRow}}) {}
};

const Rgb kBg{1, 2, 3};

// Every pixel of `got` equals `want`, except those in `hole`, which are the background.
void expect_same_except(const cv::Mat& got, const cv::Mat& want, cv::Rect hole) {
  for (int y = 0; y < got.rows; ++y)
    for (int x = 0; x < got.cols; ++x) {
      const cv::Vec3b w = hole.contains({x, y}) ? cv::Vec3b(kBg.r, kBg.g, kBg.b) : want.at<cv::Vec3b>(y, x);
      ASSERT_EQ(got.at<cv::Vec3b>(y, x), w) << "pixel " << x << ", " << y;
    }
}

TEST(Salvage, OneDamagedTileCostsOnlyItsPixels) {
  Slides s;
  Slide clean(s.clean), damaged(s.damaged);
  ASSERT_EQ(damaged.properties().at("openslide.level[0].tile-width"), "256");
  clean.set_background(kBg);
  damaged.set_background(kBg);
  // Not aligned to tiles: covers the damaged tile and parts of its eight neighbours.
  const std::int64_t x = 600, y = 300, w = 600, h = 600;
  EXPECT_THROW(damaged.read_region(x, y, 0, w, h), SlideError);
  const cv::Mat want = clean.read_region(x, y, 0, w, h);
  const cv::Rect hole(kBadCol * kTile - int(x), kBadRow * kTile - int(y), kTile, kTile);
  for (int round = 0; round < 2; ++round) {  // the second read: the handle was reopened
    SCOPED_TRACE(round);
    cv::Mat got(int(h), int(w), CV_8UC3, cv::Scalar(99, 99, 99));
    const auto pieces = damaged.read_region_salvage(got.data, x, y, 0, w, h);
    ASSERT_EQ(pieces.size(), 1u);
    EXPECT_EQ(cv::Rect(pieces[0].x, pieces[0].y, pieces[0].width, pieces[0].height), hole);
    EXPECT_FALSE(pieces[0].reason.empty());
    EXPECT_EQ(pieces[0].reason.find('\n'), std::string::npos);
    expect_same_except(got, want, hole);
  }
}

// Through both readers of the damaged slide: OpenSlide, whose failed handle stays failed until
// salvage reopens it, and the tile reader, whose failure is the damaged tile's alone.
TEST(Salvage, ReadsAwayFromTheDamageAreWholeAndReadRegionWorksAfterwards) {
  Slides s;
  Slide clean(s.clean);
  const cv::Mat want = clean.read_region(0, 0, 0, 700, 500);
  for (const char* reader : {"openslide", "tiff"}) {
    SCOPED_TRACE(reader);
    Slide damaged(s.damaged, reader);
    damaged.set_background(kBg);
    cv::Mat got(500, 700, CV_8UC3);
    EXPECT_TRUE(damaged.read_region_salvage(got.data, 0, 0, 0, 700, 500).empty());
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0);

    EXPECT_THROW(damaged.read_region(kBadCol * kTile, kBadRow * kTile, 0, 10, 10), SlideError);
    if (std::string(reader) == "openslide") {
      EXPECT_THROW(damaged.read_region(0, 0, 0, 10, 10), SlideError);  // even an undamaged region fails now
    } else {
      EXPECT_EQ(cv::norm(damaged.read_region(0, 0, 0, 10, 10), want(cv::Rect(0, 0, 10, 10)), cv::NORM_INF), 0);
    }
    // Salvage reopens it, and plain reads of undamaged regions work again.
    got.setTo(0);
    EXPECT_TRUE(damaged.read_region_salvage(got.data, 0, 0, 0, 700, 500).empty());
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0);
    cv::Mat into(500, 700, CV_8UC3);
    damaged.read_region_into(into.data, 0, 0, 0, 700, 500);
    EXPECT_EQ(cv::norm(into, want, cv::NORM_INF), 0);
    // A coarser level, whose tiles are intact, reads whole.
    cv::Mat level1(200, 300, CV_8UC3);
    EXPECT_TRUE(damaged.read_region_salvage(level1.data, 400, 200, 1, 300, 200).empty());
    EXPECT_EQ(cv::norm(level1, clean.read_region(400, 200, 1, 300, 200), cv::NORM_INF), 0);
  }
}

TEST(Salvage, BadArgumentsThrowLikeReadRegion) {
  Slides s;
  Slide damaged(s.damaged);
  std::vector<std::uint8_t> buf(300);
  EXPECT_THROW(damaged.read_region_salvage(buf.data(), 0, 0, 9, 10, 10), SlideError);
  EXPECT_THROW(damaged.read_region_salvage(buf.data(), 0, 0, 0, 0, 10), SlideError);
}

// When the file is gone by the time it must be reopened, the salvage read says so.
TEST(Salvage, SlideThatCannotBeReopenedThrows) {
  Slides s;
  Slide damaged(s.damaged);
  std::remove(s.damaged.c_str());
  std::vector<std::uint8_t> buf(std::size_t(kTile) * kTile * 3);
  try {
    damaged.read_region_salvage(buf.data(), kBadCol * kTile, kBadRow * kTile, 0, kTile, kTile);
    ADD_FAILURE() << "no error";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), s.damaged);
    EXPECT_NE(e.reason().find("reopening after a failed read: no such file"), std::string::npos) << e.what();
  }
}

}  // namespace
