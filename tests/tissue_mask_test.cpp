// Tissue detection on real slides, bright-field and fluorescence.
#include <gtest/gtest.h>

#include "pydmed/slide/tissue_mask.hpp"
#include "support.hpp"

using namespace pydmed;
using pydmed::test::wsi;

TEST(TissueMask, BrightFieldAperio) {
  PYDMED_REQUIRE_WSI();
  Slide s(wsi("CMU-1-Small-Region.svs"));
  TissueMask m(s, TissueMaskOptions().thumbnail_size(512));
  EXPECT_EQ(std::max(m.mask().cols, m.mask().rows), 512);
  EXPECT_GT(m.tissue_fraction(), 0.2);
  EXPECT_LT(m.tissue_fraction(), 0.95);
  // Regions said to hold tissue really are darker than those said not to.
  const auto tissue = m.tissue_regions(s, 0, 128, 128, 0.9);
  ASSERT_GT(tissue.size(), 10u);
  double dark = 0;
  for (const auto& r : tissue) dark += cv::mean(s.read_region(r.x, r.y, 0, 128, 128))[1];
  dark /= tissue.size();
  double all = cv::mean(s.thumbnail(256))[1];
  EXPECT_LT(dark, all);
  EXPECT_NEAR(m.fraction(0, 0, 2220, 2967), m.tissue_fraction(), 0.01);
  EXPECT_EQ(m.fraction(-5000, -5000, 100, 100), 0.0);
}

TEST(TissueMask, FluorescenceHasADarkBackground) {
  PYDMED_REQUIRE_WSI();
  Slide s(wsi("test3-DAPI-2-387.ndpi"));
  TissueMask m(s);
  EXPECT_GT(m.tissue_fraction(), 0.02);
  EXPECT_LT(m.tissue_fraction(), 0.9);
  // With a dark background, tissue is the brighter class.
  const auto tissue = m.tissue_regions(s, 2, 64, 64, 0.9);
  ASSERT_FALSE(tissue.empty());
  double bright = 0;
  for (const auto& r : tissue) bright += cv::mean(s.read_region(r.x, r.y, 2, 64, 64))[2];
  EXPECT_GT(bright / tissue.size(), cv::mean(s.thumbnail(256))[2]);
}
