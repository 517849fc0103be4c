// Tissue detection on real slides, bright-field and fluorescence.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "engine_helpers.hpp"
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

// RandomSmallChunkOptions::min_tissue: every patch, not only every BigChunk, holds that much
// tissue (by the same mask); without it, the BigChunk's rule alone lets thinner patches through.
TEST(TissueMask, PatchesHoldTheirMinimumTissue) {
  PYDMED_REQUIRE_WSI();
  const Slide slide(pydmed::test::wsi("CMU-1-Small-Region.svs"));
  const TissueMask mask(slide, TissueMaskOptions().thumbnail_size(512));
  Dataset ds("one", {});
  Patient p;
  p.dict_records["wsi"] = Record{"", pydmed::test::wsi("CMU-1-Small-Region.svs"), nlohmann::json::object()};
  ds.list_patients.push_back(p);
  for (double per_patch : {0.0, 0.9}) {
    LightDLCore dl(ds, random_bigchunk_loader(RandomBigChunkOptions().width(512).height(512).min_tissue(0.5)),
                   random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(10).min_tissue(per_patch)),
                   pydmed::test::test_options());
    const auto d = pydmed::test::consume(dl, 400);
    ASSERT_EQ(d.records.size(), 400u);
    std::size_t thin = 0;
    for (const ChunkRecord& r : d.records) thin += mask.fraction(r.x, r.y, 32, 32) < 0.9;
    if (per_patch > 0)
      EXPECT_EQ(thin, 0u);
    else
      EXPECT_GT(thin, 0u) << "the BigChunk rule alone serves patches under 0.9";
  }
}

// A slide that is all tissue reads as all tissue: uniform (no contrast for Otsu) or of two
// stains (which Otsu would split in two); glass stays glass beside it.
TEST(TissueMask, ASlideThatIsAllTissueIsAllTissue) {
  pydmed::test::TempDir t;
  const cv::Scalar pink(200, 120, 210), purple(140, 60, 120), glass(245, 245, 245);  // BGR
  cv::imwrite(t.file("uniform.png"), cv::Mat(600, 800, CV_8UC3, pink));
  cv::Mat two(600, 800, CV_8UC3, pink);
  two(cv::Rect(0, 0, 400, 600)).setTo(purple);
  cv::imwrite(t.file("two.png"), two);
  cv::Mat half(600, 800, CV_8UC3, glass);
  half(cv::Rect(0, 0, 400, 600)).setTo(pink);
  cv::imwrite(t.file("half.png"), half);
  cv::imwrite(t.file("glass.png"), cv::Mat(600, 800, CV_8UC3, glass));
  EXPECT_EQ(TissueMask(Slide(t.file("uniform.png"))).tissue_fraction(), 1.0);
  EXPECT_GT(TissueMask(Slide(t.file("two.png"))).tissue_fraction(), 0.98);
  EXPECT_NEAR(TissueMask(Slide(t.file("half.png"))).tissue_fraction(), 0.5, 0.03);
  EXPECT_EQ(TissueMask(Slide(t.file("glass.png"))).tissue_fraction(), 0.0);
}
