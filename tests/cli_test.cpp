// The `pydmed` command, as a user runs it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <cstring>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using pydmed::test::run_command;
using pydmed::test::TempDir;
using pydmed::test::wsi;

namespace {

const std::string kCli = PYDMED_CLI;

TEST(Cli, InfoPrintsJson) {
  PYDMED_REQUIRE_WSI();
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " info " + wsi("test3-DAPI-2-387.ndpi"), &out, &err), 0) << err;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["vendor"], "hamamatsu");
  EXPECT_EQ(j["level_count"], 7);
  ASSERT_EQ(j["levels"].size(), 7u);
  EXPECT_EQ(j["levels"][0]["width"], 3968);
  EXPECT_EQ(j["levels"][6]["height"], 76);
  EXPECT_GT(j["levels"][6]["downsample"].get<double>(), 60);
  EXPECT_NEAR(j["mpp_x"].get<double>(), 0.228, 0.002);
}

TEST(Cli, BadSlideExitsOneWithOneLine) {
  TempDir t;
  pydmed::test::write_file(t.file("bad.svs"), "not a slide at all, just text");
  for (const std::string& p : {t.file("bad.svs"), t.file("missing.svs"), t.path()}) {
    std::string out, err;
    EXPECT_EQ(run_command(kCli + " info " + p, &out, &err), 1);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find(p), std::string::npos) << err;
  }
}

TEST(Cli, ReadWritesRawRgbAndPng) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  const auto slide = wsi("CMU-1-Small-Region-pyramid.tiff");
  std::string err;
  ASSERT_EQ(run_command(kCli + " read " + slide + " --x 400 --y 600 --level 1 --width 123 --height 45 --out " + t.file("r.rgb"), nullptr, &err), 0) << err;
  ASSERT_EQ(run_command(kCli + " read " + slide + " --x 400 --y 600 --level 1 --width 123 --height 45 --out " + t.file("r.png"), nullptr, &err), 0) << err;
  const cv::Mat want = pydmed::Slide(slide).read_region(400, 600, 1, 123, 45);
  const std::string raw = pydmed::test::read_file(t.file("r.rgb"));
  ASSERT_EQ(raw.size(), 123u * 45 * 3);
  EXPECT_EQ(std::memcmp(raw.data(), want.data, raw.size()), 0);
  cv::Mat png = cv::imread(t.file("r.png"), cv::IMREAD_COLOR);
  cv::cvtColor(png, png, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(png, want, cv::NORM_INF), 0);
  EXPECT_EQ(run_command(kCli + " read " + slide + " --x 0 --y 0 --level 9 --width 10 --height 10 --out " + t.file("x.png"), nullptr, &err), 1);
  EXPECT_NE(err.find("level 9 out of range"), std::string::npos) << err;
  EXPECT_EQ(run_command(kCli + " read " + slide + " --x 0 --y 0 --width -10 --height 10 --out " + t.file("x.png"), nullptr, &err), 1);
  EXPECT_NE(err.find("must be positive"), std::string::npos) << err;
}

TEST(Cli, MakeSampleSlides) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.path() + " --count 2 --size 700 --seed 9", &out, &err), 0) << err;
  EXPECT_EQ(pydmed::Slide(t.file("slide_001.tiff")).levels()[0].width, 700);
  EXPECT_NE(pydmed::test::read_file(t.file("manifest.csv")).find("label:class"), std::string::npos);
  EXPECT_NE(run_command(kCli + " make-sample-slides " + t.path() + " --count 0", &out, &err), 0);
}

}  // namespace
