// The reader against the real slides of ../shared/wsi: geometry as its README states, and
// every region of regions.tsv exact (raw OpenSlide hash, then our RGB conversion of it).
#include <gtest/gtest.h>
#include <openslide/openslide.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using namespace pydmed;
using pydmed::test::wsi;

namespace {

struct Expected {
  std::string file, vendor;
  std::vector<std::pair<std::int64_t, std::int64_t>> levels;  // only the ones the README names
  double mpp;                                                 // 0: not stated
};

const std::vector<Expected> kExpected = {
    {"CMU-1-Small-Region.svs", "aperio", {{2220, 2967}}, 0.499},
    {"test3-DAPI-2-387.ndpi", "hamamatsu", {{3968, 4864}}, 0.228},
    {"small.svs", "aperio", {{16, 16}}, 0},
    {"CMU-1-Small-Region-pyramid.tiff", "generic-tiff", {{2220, 2967}}, 0},
};

TEST(SlideReal, GeometryMatchesTheReadme) {
  PYDMED_REQUIRE_WSI();
  const std::map<std::string, int> level_counts = {{"CMU-1-Small-Region.svs", 1},
                                                   {"test3-DAPI-2-387.ndpi", 7},
                                                   {"small.svs", 1},
                                                   {"CMU-1-Small-Region-pyramid.tiff", 5}};
  for (const auto& e : kExpected) {
    SCOPED_TRACE(e.file);
    Slide s(wsi(e.file));
    EXPECT_EQ(s.vendor(), e.vendor);
    EXPECT_EQ(s.level_count(), level_counts.at(e.file));
    EXPECT_EQ(s.levels()[0].width, e.levels[0].first);
    EXPECT_EQ(s.levels()[0].height, e.levels[0].second);
    EXPECT_DOUBLE_EQ(s.levels()[0].downsample, 1.0);
    for (int l = 1; l < s.level_count(); ++l) {
      EXPECT_GT(s.levels()[l].downsample, s.levels()[l - 1].downsample);
      EXPECT_LT(s.levels()[l].width, s.levels()[l - 1].width);
    }
    if (e.mpp > 0) {
      ASSERT_TRUE(s.mpp_x().has_value());
      EXPECT_NEAR(*s.mpp_x(), e.mpp, 0.0015);
    }
  }
  Slide ndpi(wsi("test3-DAPI-2-387.ndpi"));
  EXPECT_EQ(ndpi.levels().back().width, 62);
  EXPECT_EQ(ndpi.levels().back().height, 76);
  Slide pyr(wsi("CMU-1-Small-Region-pyramid.tiff"));
  EXPECT_EQ(pyr.levels().back().width, 138);
  EXPECT_EQ(pyr.levels().back().height, 185);
  EXPECT_FALSE(pyr.mpp_x().has_value() && *pyr.mpp_x() <= 0);
}

TEST(SlideReal, AssociatedImagesOfTheAperioSlide) {
  PYDMED_REQUIRE_WSI();
  Slide s(wsi("CMU-1-Small-Region.svs"));
  const std::map<std::string, std::pair<int, int>> sizes = {
      {"label", {387, 463}}, {"macro", {1280, 431}}, {"thumbnail", {574, 768}}};
  for (auto& [name, wh] : sizes) {
    cv::Mat img = s.read_associated_image(name);
    EXPECT_EQ(img.cols, wh.first) << name;
    EXPECT_EQ(img.rows, wh.second) << name;
    EXPECT_EQ(img.type(), CV_8UC3);
  }
  EXPECT_THROW(s.read_associated_image("nope"), SlideError);
}

TEST(SlideReal, BestLevelForDownsampleFollowsOpenSlide) {
  PYDMED_REQUIRE_WSI();
  const std::string path = wsi("test3-DAPI-2-387.ndpi");
  Slide s(path);
  openslide_t* osr = openslide_open(path.c_str());
  ASSERT_NE(osr, nullptr);
  for (double ds : {0.5, 1.0, 1.9, 2.0, 3.0, 7.99, 8.0, 20.0, 63.0, 64.0, 1000.0}) {
    EXPECT_EQ(s.best_level_for_downsample(ds), openslide_get_best_level_for_downsample(osr, ds)) << ds;
  }
  openslide_close(osr);
}

struct RegionRow {
  std::string file;
  std::int64_t x, y;
  int level;
  std::int64_t w, h;
  std::string sha;
};

std::vector<RegionRow> regions() {
  std::ifstream in(wsi("regions.tsv"));
  std::vector<RegionRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("file\t", 0) == 0) continue;
    std::istringstream ss(line);
    RegionRow r;
    ss >> r.file >> r.x >> r.y >> r.level >> r.w >> r.h >> r.sha;
    rows.push_back(r);
  }
  return rows;
}

TEST(SlideReal, EveryRegionOfRegionsTsvIsExact) {
  PYDMED_REQUIRE_WSI();
  const auto rows = regions();
  ASSERT_GE(rows.size(), 30u);
  const Rgb bg{1, 2, 3};  // a colour no slide uses, so a wrongly filled pixel shows
  int transparent_seen = 0;
  for (const auto& r : rows) {
    SCOPED_TRACE(r.file + " " + std::to_string(r.x) + "," + std::to_string(r.y) + " level " + std::to_string(r.level));
    const std::string path = wsi(r.file);
    openslide_t* osr = openslide_open(path.c_str());
    ASSERT_NE(osr, nullptr);
    std::vector<std::uint32_t> raw(std::size_t(r.w * r.h));
    openslide_read_region(osr, raw.data(), r.x, r.y, r.level, r.w, r.h);
    openslide_close(osr);
    ASSERT_EQ(pydmed::test::sha256_hex(raw.data(), raw.size() * 4), r.sha);

    Slide s(path);
    s.set_background(bg);
    const cv::Mat rgb = s.read_region(r.x, r.y, r.level, r.w, r.h);
    ASSERT_EQ(rgb.rows, r.h);
    ASSERT_EQ(rgb.cols, r.w);
    ASSERT_TRUE(rgb.isContinuous());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      const std::uint32_t p = raw[i], a = p >> 24;
      std::uint8_t want[3] = {std::uint8_t(p >> 16), std::uint8_t(p >> 8), std::uint8_t(p)};
      if (a == 0) {
        want[0] = bg.r, want[1] = bg.g, want[2] = bg.b;
        ++transparent_seen;
      } else if (a < 255) {
        for (auto& c : want) c = std::uint8_t(std::min(255u, (c * 255u + a / 2) / a));
      }
      mismatches += std::memcmp(rgb.data + 3 * i, want, 3) != 0;
    }
    EXPECT_EQ(mismatches, 0u);
  }
  EXPECT_GT(transparent_seen, 1000) << "the edge-straddling regions should hold transparent pixels";
}

TEST(SlideReal, ReadRegionIntoMatchesReadRegion) {
  PYDMED_REQUIRE_WSI();
  Slide s(wsi("CMU-1-Small-Region-pyramid.tiff"));
  const cv::Mat a = s.read_region(300, 500, 1, 97, 61);
  std::vector<std::uint8_t> b(97 * 61 * 3);
  s.read_region_into(b.data(), 300, 500, 1, 97, 61);
  EXPECT_EQ(std::memcmp(a.data, b.data(), b.size()), 0);
}

}  // namespace
