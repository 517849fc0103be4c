// The generated slides: generic-tiff pyramids, deterministic, tissue-like, labelled.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <opencv2/imgproc.hpp>

#include "pydmed/data/manifest.hpp"
#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/sample_slide.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"
#include "support.hpp"

using namespace pydmed;

TEST(SampleSlide, OpensAsAGenericTiffPyramid) {
  pydmed::test::TempDir d;
  const auto p = d.file("s.tiff");
  const int levels = write_sample_slide(p, SampleSlideOptions().width(3000).height(1700).seed(4));
  Slide s(p);
  EXPECT_EQ(s.vendor(), "generic-tiff");
  EXPECT_EQ(s.level_count(), levels);
  EXPECT_EQ(levels, 5);  // 3000 -> 1500 -> 750 -> 375 -> 188: the last fits one 256 tile
  EXPECT_EQ(s.levels()[0].width, 3000);
  EXPECT_EQ(s.levels()[0].height, 1700);
  for (int l = 1; l < levels; ++l) {
    EXPECT_EQ(s.levels()[l].width, (s.levels()[l - 1].width + 1) / 2);
    EXPECT_NEAR(s.levels()[l].downsample, std::pow(2.0, l), 0.02 * std::pow(2.0, l));
  }
  ASSERT_TRUE(s.mpp_x().has_value());
  EXPECT_NEAR(*s.mpp_x(), 0.5, 1e-3);
  EXPECT_NE(s.properties().at("openslide.comment").find("label=0"), std::string::npos);
}

TEST(SampleSlide, DeterministicForASeed) {
  pydmed::test::TempDir d;
  const auto o = SampleSlideOptions().width(1200).height(1000);
  write_sample_slide(d.file("a.tiff"), SampleSlideOptions(o).seed(7));
  write_sample_slide(d.file("b.tiff"), SampleSlideOptions(o).seed(7));
  write_sample_slide(d.file("c.tiff"), SampleSlideOptions(o).seed(8));
  EXPECT_EQ(pydmed::test::read_file(d.file("a.tiff")), pydmed::test::read_file(d.file("b.tiff")));
  const cv::Mat a = Slide(d.file("a.tiff")).read_region(0, 0, 0, 1200, 1000);
  const cv::Mat c = Slide(d.file("c.tiff")).read_region(0, 0, 0, 1200, 1000);
  EXPECT_GT(cv::norm(a, c, cv::NORM_L1) / double(a.total()), 5.0);
}

TEST(SampleSlide, LooksLikeTissueAndLevelsAgree) {
  pydmed::test::TempDir d;
  const auto p = d.file("s.tiff");
  write_sample_slide(p, SampleSlideOptions().width(4096).height(4096).seed(11));
  Slide s(p);
  TissueMask mask(s);
  // Stained blobs on a white background: tissue covers part, not all, of the slide.
  EXPECT_GT(mask.tissue_fraction(), 0.08);
  EXPECT_LT(mask.tissue_fraction(), 0.85);
  // The background is near white; tissue is pink/purple (red and blue above green).
  const cv::Mat l0 = s.read_region(0, 0, 0, 64, 64);
  EXPECT_GT(cv::mean(l0)[1], 225);
  // A coarse level is the fine one scaled down: compare level 2 with level 0 resized.
  const cv::Mat fine = s.read_region(0, 0, 0, 4096, 4096);
  const cv::Mat coarse = s.read_region(0, 0, 2, 1024, 1024);
  cv::Mat shrunk;
  cv::resize(fine, shrunk, coarse.size(), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(shrunk, coarse, cv::NORM_L1) / double(coarse.total() * 3), 12.0);
}

TEST(SampleSlide, LabelsDifferInNuclei) {
  pydmed::test::TempDir d;
  // Same tissue layout (seed), different label: label 1 has more nuclei, so its tissue is darker.
  write_sample_slide(d.file("l0.tiff"), SampleSlideOptions().width(2048).height(2048).seed(3).label(0));
  write_sample_slide(d.file("l1.tiff"), SampleSlideOptions().width(2048).height(2048).seed(3).label(1));
  Slide s0(d.file("l0.tiff")), s1(d.file("l1.tiff"));
  TissueMask m(s0);
  const auto tiles = m.tissue_regions(s0, 0, 256, 256, 0.99);
  ASSERT_FALSE(tiles.empty());
  double g0 = 0, g1 = 0;
  for (const auto& r : tiles) {
    g0 += cv::mean(s0.read_region(r.x, r.y, 0, 256, 256))[1];
    g1 += cv::mean(s1.read_region(r.x, r.y, 0, 256, 256))[1];
  }
  EXPECT_LT(g1 / tiles.size(), g0 / tiles.size() - 5);
}

TEST(SampleSlide, SampleDatasetWritesSlidesAndABalancedManifest) {
  pydmed::test::TempDir d;
  const Dataset ds = make_sample_dataset(d.path(), 4, 600, 1);
  const Dataset back = read_manifest(d.file("manifest.csv"));
  ASSERT_EQ(back.size(), 4u);
  int ones = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(back.list_patients[i].record("wsi").path(), ds.list_patients[i].record("wsi").path());
    EXPECT_EQ(Slide(back.list_patients[i].record("wsi").path()).vendor(), "generic-tiff");
    ones += back.list_patients[i].labels["class"].get<int>();
  }
  EXPECT_EQ(ones, 2);
}

TEST(SampleSlide, BadOptionsAreRefused) {
  pydmed::test::TempDir d;
  EXPECT_THROW(write_sample_slide(d.file("x.tiff"), SampleSlideOptions().width(0)), Error);
  EXPECT_THROW(write_sample_slide(d.file("x.tiff"), SampleSlideOptions().tile_size(100)), Error);
  EXPECT_THROW(write_sample_slide(d.path() + "/no/such/dir/x.tiff", SampleSlideOptions().width(64).height(64)), Error);
}

// The size: 20,000 x 20,000 in a child process whose peak RSS the kernel reports.
TEST(SampleSlide, TwentyThousandSquareStaysUnder200MB) {
  pydmed::test::TempDir d;
  std::string out, err;
  const int rc = pydmed::test::run_command(
      std::string(PYDMED_CLI) + " make-sample-slides " + d.path() + " --count 1 --size 20000 --seed 5", &out, &err);
  ASSERT_EQ(rc, 0) << err;
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);  // the largest of the waited-for children: the generator
  EXPECT_LT(ru.ru_maxrss / 1024, 200) << "peak RSS in MB";
  Slide s(d.file("slide_000.tiff"));
  EXPECT_EQ(s.vendor(), "generic-tiff");
  EXPECT_EQ(s.levels()[0].width, 20000);
  EXPECT_EQ(s.level_count(), 8);  // 20000 / 2^7 = 157 <= 256
  EXPECT_LE(s.levels().back().width, 256);
}

// --from: the pixels are blocks of a real slide's tissue (each found in the source, up to JPEG's
// loss), the levels agree, a seed fixes the mosaic, and a bad source is one line naming it.
TEST(SampleSlide, MosaicOfARealSlide) {
  PYDMED_REQUIRE_WSI();
  pydmed::test::TempDir d;
  const std::string src = pydmed::test::wsi("CMU-1-Small-Region.svs");
  write_sample_slide(d.file("m.tiff"), SampleSlideOptions().width(2048).height(1536).seed(5).source(src));
  write_sample_slide(d.file("m2.tiff"), SampleSlideOptions().width(2048).height(1536).seed(6).source(src));
  Slide s(d.file("m.tiff")), source(src);
  const cv::Mat whole = source.read_region(0, 0, 0, source.level(0).width, source.level(0).height);
  auto best_match = [&](std::int64_t x, std::int64_t y) {
    cv::Mat score;
    cv::matchTemplate(whole, s.read_region(x, y, 0, 128, 128), score, cv::TM_SQDIFF_NORMED);
    double best = 1;
    cv::minMaxLoc(score, &best);
    return best;
  };
  EXPECT_LT(best_match(192, 192), 0.02);                      // inside block (0, 0)
  EXPECT_LT(best_match(3 * 512 + 192, 2 * 512 + 192), 0.02);  // inside block (3, 2)
  EXPECT_GT(best_match(512 - 64, 512 - 64), 0.04);            // across four blocks: no one place matches
  const cv::Mat fine = s.read_region(0, 0, 0, 2048, 1536), coarse = s.read_region(0, 0, 2, 512, 384);
  cv::Mat shrunk;
  cv::resize(fine, shrunk, coarse.size(), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(shrunk, coarse, cv::NORM_L1) / double(coarse.total() * 3), 8.0);
  EXPECT_GT(cv::norm(fine, Slide(d.file("m2.tiff")).read_region(0, 0, 0, 2048, 1536), cv::NORM_L1), 0);
  try {
    write_sample_slide(d.file("x.tiff"), SampleSlideOptions().width(512).height(512).source(d.file("missing.svs")));
    FAIL() << "a missing source was accepted";
  } catch (const SlideError& e) {
    EXPECT_NE(std::string(e.what()).find(d.file("missing.svs") + ": no such file"), std::string::npos) << e.what();
  }
}
