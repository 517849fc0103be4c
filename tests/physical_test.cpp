// Reading at a physical resolution: the level and region picked for a target mpp, the resize,
// and the mpp a manifest or a flag gives a slide that lacks one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pydmed/data/manifest.hpp"
#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using namespace pydmed;
using pydmed::test::TempDir;
using pydmed::test::wsi;

namespace {

cv::Mat area_resized(const Slide& s, std::int64_t x, std::int64_t y, int level, std::int64_t w, std::int64_t h, int p) {
  cv::Mat out;
  cv::resize(s.read_region(x, y, level, w, h), out, cv::Size(p, p), 0, 0, cv::INTER_AREA);
  return out;
}

TEST(Physical, LevelAndRegionFollowTheSlidesMpp) {
  PYDMED_REQUIRE_WSI();
  // NDPI, 0.2282 um/px, a 2x pyramid: 1.0 um/px is read at level 2 (0.9127), 245 pixels for 224.
  const Slide ndpi(wsi("test3-DAPI-2-387.ndpi"));
  const PhysicalRegion r = ndpi.physical_region(1.0, 224, 224);
  EXPECT_EQ(r.level, 2);
  EXPECT_NEAR(r.level_mpp_x, 0.9127, 1e-3);
  EXPECT_EQ(r.width, std::llround(224 / r.level_mpp_x));
  EXPECT_EQ(r.width, 245);
  EXPECT_FALSE(r.upsample);
  const cv::Mat got = ndpi.read_region_at_mpp(400, 800, 1.0, 224, 224);
  ASSERT_EQ(got.size(), cv::Size(224, 224));
  EXPECT_EQ(cv::norm(got, area_resized(ndpi, 400, 800, 2, 245, 245, 224), cv::NORM_INF), 0);
  // 0.46 um/px: level 1 (0.4564) is within the 1% slack.
  EXPECT_EQ(ndpi.physical_region(0.46, 224, 224).level, 1);
  // SVS, 0.499 um/px, one level: level 0, round(224 / 0.499) = 449 pixels.
  const Slide svs(wsi("CMU-1-Small-Region.svs"));
  const PhysicalRegion s = svs.physical_region(1.0, 224, 224);
  EXPECT_EQ(s.level, 0);
  EXPECT_EQ(s.width, 449);
  EXPECT_EQ(cv::norm(svs.read_region_at_mpp(100, 200, 1.0, 224, 224), area_resized(svs, 100, 200, 0, 449, 449, 224),
                     cv::NORM_INF),
            0);
  // At the slide's own mpp: no resize at all.
  EXPECT_EQ(
      cv::norm(svs.read_region_at_mpp(100, 200, 0.499, 64, 64), svs.read_region(100, 200, 0, 64, 64), cv::NORM_INF), 0);
}

TEST(Physical, AFinerTargetIsRefusedUnlessUpsamplingIsAllowed) {
  PYDMED_REQUIRE_WSI();
  const Slide svs(wsi("CMU-1-Small-Region.svs"));
  try {
    svs.physical_region(0.25, 224, 224);
    FAIL() << "0.25 um/px read from a 0.499 um/px slide";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), wsi("CMU-1-Small-Region.svs"));
    EXPECT_NE(e.reason().find("finer than the slide's finest level"), std::string::npos) << e.what();
  }
  const PhysicalRegion r = svs.physical_region(0.25, 224, 224, /*allow_upsample=*/true);
  EXPECT_TRUE(r.upsample);
  EXPECT_EQ(r.width, std::llround(224 * 0.25 / 0.499));
  cv::Mat want;
  cv::resize(svs.read_region(0, 0, 0, r.width, r.height), want, cv::Size(224, 224), 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(cv::norm(svs.read_region_at_mpp(0, 0, 0.25, 224, 224, true), want, cv::NORM_INF), 0);
}

TEST(Physical, ASlideWithoutMppSaysHowToGiveIt) {
  TempDir t;
  cv::imwrite(t.file("plain.png"), cv::Mat(300, 400, CV_8UC3, cv::Scalar(10, 20, 30)));
  Slide s(t.file("plain.png"));
  EXPECT_FALSE(s.mpp_x().has_value());
  try {
    s.physical_region(0.5, 64, 64);
    FAIL() << "read at a physical resolution without an mpp";
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), t.file("plain.png"));
    EXPECT_NE(e.reason().find("mpp:RECORD"), std::string::npos) << e.what();
    EXPECT_NE(e.reason().find("--slide-mpp"), std::string::npos) << e.what();
  }
  s.set_mpp(0.25, 0.25);
  EXPECT_EQ(s.physical_region(0.5, 64, 64).width, 128);
  EXPECT_THROW(s.set_mpp(0, 1), SlideError);
  EXPECT_THROW(s.set_mpp(std::nan(""), 1), SlideError);

  // A manifest's mpp:RECORD column gives it (and would override the slide's own).
  pydmed::test::write_file(t.file("m.csv"), "patient_id,record:wsi,mpp:wsi\n0,plain.png,0.25\n");
  const Dataset ds = read_manifest(t.file("m.csv"));
  EXPECT_EQ(ds.list_patients[0].record("wsi").dict_infos["mpp"], 0.25);
  const Slide opened = open_record_slide(ds.list_patients[0].record("wsi"));
  EXPECT_EQ(opened.mpp_x(), 0.25);
  pydmed::test::write_file(t.file("bad.csv"), "patient_id,record:wsi,mpp:wsi\n0,plain.png,fast\n");
  try {
    read_manifest(t.file("bad.csv"));
    FAIL() << "a bad mpp accepted";
  } catch (const DatasetError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("column 'mpp:wsi': 'fast' is not microns per pixel from 0.01 to 1000"),
              std::string::npos)
        << e.what();
  }
}

TEST(Physical, ReadCommandTakesMppAndMagnification) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  const std::string cli = PYDMED_CLI, ndpi = wsi("test3-DAPI-2-387.ndpi");
  std::string err;
  ASSERT_EQ(pydmed::test::run_command(
                cli + " read " + ndpi + " --x 400 --y 800 --mpp 1.0 --width 224 --height 224 --out " + t.file("a.rgb"),
                nullptr, &err),
            0)
      << err;
  ASSERT_EQ(pydmed::test::run_command(cli + " read " + ndpi +
                                          " --x 400 --y 800 --magnification 10 --width 224 --height 224 --out " +
                                          t.file("b.rgb"),
                                      nullptr, &err),
            0)
      << err;
  const cv::Mat want = Slide(ndpi).read_region_at_mpp(400, 800, 1.0, 224, 224);
  for (const char* f : {"a.rgb", "b.rgb"}) {
    const std::string raw = pydmed::test::read_file(t.file(f));
    ASSERT_EQ(raw.size(), 224u * 224 * 3) << f;
    EXPECT_EQ(std::memcmp(raw.data(), want.data, raw.size()), 0) << f;
  }
  EXPECT_EQ(pydmed::test::run_command(cli + " read " + wsi("CMU-1-Small-Region.svs") +
                                          " --x 0 --y 0 --mpp 0.1 --width 64 --height 64 --out " + t.file("c.png"),
                                      nullptr, &err),
            1);
  EXPECT_NE(err.find("finer than the slide's finest level"), std::string::npos) << err;
  EXPECT_EQ(pydmed::test::run_command(
                cli + " read " + ndpi + " --x 0 --y 0 --mpp 1 --level 1 --width 8 --height 8 --out " + t.file("d.png"),
                nullptr, &err),
            2);
}

}  // namespace

namespace {
// The loaders' resize is OpenCV's INTER_AREA bit for bit, at any size (non-integer factors take
// the project's own path, integer ones OpenCV's), and INTER_LINEAR when upsampling.
TEST(Physical, ResizeToPatchIsOpenCvsInterAreaExactly) {
  cv::Mat big(900, 900, CV_8UC3);
  cv::randu(big, 0, 256);
  pydmed::Rng rng(11);
  for (int i = 0; i < 1500; ++i) {
    const int dw = int(rng.between(4, 260)), dh = i % 3 ? int(rng.between(4, 260)) : dw;
    const int sw = int(rng.between(dw, std::min(3 * dw, 600))),
              sh = i % 3 ? int(rng.between(dh, std::min(3 * dh, 600))) : sw;
    const cv::Mat region = big(cv::Rect(int(rng.between(0, 900 - sw)), int(rng.between(0, 900 - sh)), sw, sh));
    cv::Mat want;
    cv::resize(region, want, cv::Size(dw, dh), 0, 0, cv::INTER_AREA);
    ASSERT_EQ(cv::norm(pydmed::resize_to_patch(region, cv::Size(dw, dh)), want, cv::NORM_INF), 0)
        << sw << " x " << sh << " to " << dw << " x " << dh;
  }
  // Factors up to 7 (up to 8 taps a pixel: the unrolled SSE2 paths and the general one), and a
  // BigChunk-sized resample (what the loader does once per BigChunk).
  for (int i = 0; i < 300; ++i) {
    const int dw = int(rng.between(4, 120)), dh = int(rng.between(4, 120));
    const int sw = int(rng.between(dw, std::min(7 * dw, 900))), sh = int(rng.between(dh, std::min(7 * dh, 900)));
    const cv::Mat region = big(cv::Rect(0, 0, sw, sh));
    cv::Mat want;
    cv::resize(region, want, cv::Size(dw, dh), 0, 0, cv::INTER_AREA);
    ASSERT_EQ(cv::norm(pydmed::resize_to_patch(region, cv::Size(dw, dh)), want, cv::NORM_INF), 0)
        << sw << " x " << sh << " to " << dw << " x " << dh;
  }
  cv::Mat chunk(2048, 2048, CV_8UC3), want, into(1365, 1364, CV_8UC3);
  cv::randu(chunk, 0, 256);
  cv::resize(chunk, want, into.size(), 0, 0, cv::INTER_AREA);
  pydmed::resize_into(chunk, into);
  EXPECT_EQ(cv::norm(into, want, cv::NORM_INF), 0);
  cv::Mat up;
  cv::resize(big(cv::Rect(0, 0, 100, 100)), up, cv::Size(150, 150), 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(
      cv::norm(pydmed::resize_to_patch(big(cv::Rect(0, 0, 100, 100)), cv::Size(150, 150), true), up, cv::NORM_INF), 0);
}
}  // namespace
