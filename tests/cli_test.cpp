// The `pydmed` command, as a user runs it.
#include <gtest/gtest.h>

#include <zlib.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"
#include "sample_annotations.hpp"
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
  EXPECT_EQ(j["reader"], "openslide");
  EXPECT_EQ(j["level_count"], 7);
  ASSERT_EQ(j["levels"].size(), 7u);
  EXPECT_EQ(j["levels"][0]["width"], 3968);
  EXPECT_EQ(j["levels"][6]["height"], 76);
  EXPECT_GT(j["levels"][6]["downsample"].get<double>(), 60);
  EXPECT_NEAR(j["mpp_x"].get<double>(), 0.228, 0.002);
}

// Which reader decodes a slide, as `"reader"`: the tile reader (a JPEG-tiled pyramid), OpenSlide
// (NDPI), libtiff (a striped TIFF OpenSlide refuses), OpenCV (a PNG).
TEST(Cli, InfoNamesTheReader) {
  TempDir t;
  cv::Mat img(40, 60, CV_8UC3, cv::Scalar(10, 200, 30));
  cv::imwrite(t.file("a.png"), img);
  cv::imwrite(t.file("b.tif"), img);
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " info " + t.file("a.png"), &out, &err), 0) << err;
  EXPECT_EQ(nlohmann::json::parse(out)["reader"], "opencv");
  ASSERT_EQ(run_command(kCli + " info " + t.file("b.tif"), &out, &err), 0) << err;
  EXPECT_EQ(nlohmann::json::parse(out)["reader"], "libtiff") << out;
  PYDMED_REQUIRE_WSI();
  ASSERT_EQ(run_command(kCli + " info " + wsi("CMU-1-Small-Region-pyramid.tiff"), &out, &err), 0) << err;
  EXPECT_EQ(nlohmann::json::parse(out)["reader"], "tiff") << out;
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
  ASSERT_EQ(run_command(
                kCli + " read " + slide + " --x 400 --y 600 --level 1 --width 123 --height 45 --out " + t.file("r.rgb"),
                nullptr, &err),
            0)
      << err;
  ASSERT_EQ(run_command(
                kCli + " read " + slide + " --x 400 --y 600 --level 1 --width 123 --height 45 --out " + t.file("r.png"),
                nullptr, &err),
            0)
      << err;
  const cv::Mat want = pydmed::Slide(slide).read_region(400, 600, 1, 123, 45);
  const std::string raw = pydmed::test::read_file(t.file("r.rgb"));
  ASSERT_EQ(raw.size(), 123u * 45 * 3);
  EXPECT_EQ(std::memcmp(raw.data(), want.data, raw.size()), 0);
  cv::Mat png = cv::imread(t.file("r.png"), cv::IMREAD_COLOR);
  cv::cvtColor(png, png, cv::COLOR_BGR2RGB);
  EXPECT_EQ(cv::norm(png, want, cv::NORM_INF), 0);
  EXPECT_EQ(
      run_command(kCli + " read " + slide + " --x 0 --y 0 --level 9 --width 10 --height 10 --out " + t.file("x.png"),
                  nullptr, &err),
      1);
  EXPECT_NE(err.find("level 9 out of range"), std::string::npos) << err;
  EXPECT_EQ(run_command(kCli + " read " + slide + " --x 0 --y 0 --width -10 --height 10 --out " + t.file("x.png"),
                        nullptr, &err),
            2);
  EXPECT_NE(err.find("--width: must be an integer from 1 to 1048576 (got -10)"), std::string::npos) << err;
}

TEST(Cli, MakeSampleSlides) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.path() + " --count 2 --size 700 --seed 9", &out, &err), 0)
      << err;
  EXPECT_EQ(pydmed::Slide(t.file("slide_001.tiff")).levels()[0].width, 700);
  EXPECT_NE(pydmed::test::read_file(t.file("manifest.csv")).find("label:class"), std::string::npos);
  EXPECT_NE(run_command(kCli + " make-sample-slides " + t.path() + " --count 0", &out, &err), 0);
}

}  // namespace

namespace {

std::vector<std::vector<std::string>> tsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, '\t')) f.push_back(cell);
    rows.push_back(f);
  }
  return rows;
}

TEST(Cli, StreamListsEveryDeliveredPatchWithItsCrc) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  std::string err;
  // small.svs (16 x 16) cannot serve a 48 x 48 patch: if it was loaded before the 700 patches
  // were in (timing decides), it failed with that reason (exit 1); the others serve either way.
  const int rc =
      run_command(kCli + " stream " + pydmed::test::wsi_dir() + " --count 700 --patch 48 --bigchunk 300" +
                      " --collectors 2 --interval-resched 0.05 --max-per-bigchunk 30 --seed 5 --out " + t.file("s.tsv"),
                  nullptr, &err);
  EXPECT_EQ(rc, err.find("error:") == std::string::npos ? 0 : 1) << err;
  for (std::size_t at = err.find("error:"); at != std::string::npos; at = err.find("error:", at + 1)) {
    const std::string line = err.substr(at, err.find('\n', at) - at);
    EXPECT_TRUE(line.find("small.svs: level 0 is 16 x 16 pixels, smaller than the 48 x 48 patch") !=
                    std::string::npos ||
                line.find("set aside") != std::string::npos)
        << line;
  }
  const auto rows = tsv(pydmed::test::read_file(t.file("s.tsv")));
  ASSERT_EQ(rows.size(), 701u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"patient", "visit", "bigchunk_x", "bigchunk_y", "x", "y", "level",
                                               "width", "height", "mpp", "crc32", "roi", "resample", "bigchunk_width",
                                               "bigchunk_height", "bigchunk_target_width", "bigchunk_target_height",
                                               "x_in_bigchunk", "y_in_bigchunk"}));
  EXPECT_NE(err.find("delivered 700 SmallChunks"), std::string::npos) << err;
  EXPECT_NE(err.find("patient 3:"), std::string::npos) << err;
  // Sorted folder order: the ids the command gave.
  const std::vector<std::string> files = {"CMU-1-Small-Region-pyramid.tiff", "CMU-1-Small-Region.svs", "small.svs",
                                          "test3-DAPI-2-387.ndpi"};
  for (std::size_t i = 1; i < rows.size(); i += 37) {
    const auto& r = rows[i];
    ASSERT_EQ(r.size(), 19u);
    EXPECT_EQ(r[9], "") << "no mpp without --mpp";
    ASSERT_NE(r[0], "2") << "small.svs served a patch";
    const pydmed::Slide s(wsi(files.at(std::stoul(r[0]))));
    const cv::Mat m = s.read_region(std::stoll(r[4]), std::stoll(r[5]), std::stoi(r[6]), 48, 48);
    EXPECT_EQ(std::to_string(crc32(crc32(0L, Z_NULL, 0), m.data, uInt(m.total() * 3))), r[10]) << "row " << i;
  }
}

// BigChunks start on the tile grid (256 here) or flush with the edge (4000 - 2048), and patches
// stay uniform over the tile phase:
// each of the 8 bands of x mod 256 (and y) gets its 1/8 of 16,000 patches (binomial sd ~ 1.9%;
// without the whole-tile span of offsets the bands would differ by 8 to 7).
TEST(Cli, BigChunksOnTheTileGridKeepPatchesUniform) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.path() + " --count 2 --size 4000", &out, &err), 0) << err;
  ASSERT_EQ(run_command(
                kCli + " stream " + t.path() + " --count 16000 --max-per-bigchunk 40 --seed 3 --out " + t.file("s.tsv"),
                &out, &err),
            0)
      << err;
  const auto rows = tsv(pydmed::test::read_file(t.file("s.tsv")));
  ASSERT_EQ(rows.size(), 16001u);
  std::vector<int> bands_x(8), bands_y(8);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    for (int axis : {2, 3}) {
      const auto at = std::stoll(rows[i][std::size_t(axis)]);
      ASSERT_TRUE(at % 256 == 0 || at == 4000 - 2048) << "BigChunk at " << at << ", row " << i;
    }
    ++bands_x[std::size_t(std::stoll(rows[i][4]) % 256 / 32)],
        ++bands_y[std::size_t(std::stoll(rows[i][5]) % 256 / 32)];
  }
  for (int b = 0; b < 8; ++b) {
    EXPECT_NEAR(bands_x[std::size_t(b)], 2000, 150) << "x band " << b;
    EXPECT_NEAR(bands_y[std::size_t(b)], 2000, 150) << "y band " << b;
  }
}

// --mpp 1.0 --resample patch: the NDPI (0.228 um/px, 2x pyramid) is read at level 2, 70 pixels
// for a 64-pixel patch; the SVS (0.499, one level) at level 0, 128 pixels; each patch is that
// region resized alone. (The default, a BigChunk resampled once: bigchunk_resample_test.)
TEST(Cli, StreamAtAPhysicalResolution) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  pydmed::test::write_file(t.file("m.csv"), "patient_id,record:wsi\n0," + wsi("test3-DAPI-2-387.ndpi") + "\n1," +
                                                wsi("CMU-1-Small-Region.svs") + "\n");
  std::string err;
  ASSERT_EQ(
      run_command(kCli + " stream " + t.file("m.csv") + " --mpp 1.0 --resample patch --count 400 --patch 64 " +
                      "--bigchunk 512" + " --interval-resched 0.05 --max-per-bigchunk 20 --out " + t.file("s.tsv"),
                  nullptr, &err),
      0)
      << err;
  const auto rows = tsv(pydmed::test::read_file(t.file("s.tsv")));
  ASSERT_EQ(rows.size(), 401u);
  const std::map<std::string, std::pair<std::string, std::string>> want = {{"0", {"2", "70"}}, {"1", {"0", "128"}}};
  const std::string files[] = {wsi("test3-DAPI-2-387.ndpi"), wsi("CMU-1-Small-Region.svs")};
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    ASSERT_EQ(r.size(), 19u);
    EXPECT_EQ(r[12], "patch");
    EXPECT_EQ(r[6], want.at(r[0]).first) << "level, row " << i;
    EXPECT_EQ(r[7], want.at(r[0]).second) << "width, row " << i;
    EXPECT_EQ(r[8], r[7]);
    EXPECT_EQ(r[9], "1");
    if (i % 23 != 0) continue;
    const pydmed::Slide s(files[std::stoi(r[0])]);
    cv::Mat m;
    cv::resize(s.read_region(std::stoll(r[4]), std::stoll(r[5]), std::stoi(r[6]), std::stoi(r[7]), std::stoi(r[8])), m,
               cv::Size(64, 64), 0, 0, cv::INTER_AREA);
    EXPECT_EQ(std::to_string(crc32(crc32(0L, Z_NULL, 0), m.data, uInt(m.total() * 3))), r[10]) << "row " << i;
  }
  // A slide without mpp: an error naming it and how to give one; --slide-mpp gives it.
  cv::imwrite(t.file("plain.png"), cv::Mat(600, 600, CV_8UC3, cv::Scalar(50, 100, 150)));
  EXPECT_EQ(run_command(kCli + " stream " + t.file("plain.png") + " --mpp 0.5 --count 10 --patch 64 --bigchunk 256",
                        nullptr, &err),
            1);
  EXPECT_NE(err.find(t.file("plain.png") + ": no microns-per-pixel (mpp) in the slide"), std::string::npos) << err;
  EXPECT_NE(err.find("--slide-mpp"), std::string::npos) << err;
  ASSERT_EQ(
      run_command(kCli + " stream " + t.file("plain.png") +
                      " --mpp 0.5 --slide-mpp 0.25 --count 10 --patch 64 --bigchunk 256" + " --out " + t.file("p.tsv"),
                  nullptr, &err),
      0)
      << err;
  const auto plain = tsv(pydmed::test::read_file(t.file("p.tsv")));
  ASSERT_EQ(plain.size(), 11u);
  EXPECT_EQ(plain[1][7], "128") << "0.5 um/px from 0.25: twice the pixels";
}

// SLIDE.geojson beside the slide restricts stream and sliding-window; the roi column names
// each patch's class; a malformed file is one line naming it.
TEST(Cli, StreamAndSlidingWindowInsideAnnotations) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  std::filesystem::copy_file(wsi("CMU-1-Small-Region.svs"), t.file("s.svs"));
  pydmed::test::write_file(t.file("s.geojson"), pydmed::test::kGeoJson);
  const auto a = pydmed::Annotations::read(t.file("s.geojson"));
  std::string err;
  for (const std::string mode : {"include", "exclude"}) {
    ASSERT_EQ(
        run_command(kCli + " stream " + t.file("s.svs") + " --roi " + mode + " --count 300 --patch 64 --bigchunk 512" +
                        " --max-per-bigchunk 10 --out " + t.file("s.tsv"),
                    nullptr, &err),
        0)
        << err;
    const std::string text = pydmed::test::read_file(t.file("s.tsv"));
    const auto rows = tsv(text);
    ASSERT_EQ(rows.size(), 301u);
    EXPECT_EQ(rows[0][11], "roi");
    EXPECT_EQ(std::count(text.begin(), text.end(), '\t'), 18 * 301) << "19 cells on every line, roi empty or not";
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const pydmed::Annotation* at = a.at(std::stod(rows[i][4]) + 32, std::stod(rows[i][5]) + 32);
      if (mode == "exclude") {
        EXPECT_EQ(at, nullptr) << "row " << i;
        EXPECT_EQ(rows[i][11], "") << "empty roi cell";
      } else {
        ASSERT_NE(at, nullptr) << "row " << i;
        ASSERT_EQ(rows[i].size(), 19u);
        EXPECT_EQ(rows[i][11], at->cls) << "row " << i;
      }
    }
  }
  ASSERT_EQ(
      run_command(kCli + " sliding-window " + t.file("s.svs") + " --kernel 128 --stride 128 --out " + t.file("w.tsv"),
                  nullptr, &err),
      0)
      << err;
  const auto windows = tsv(pydmed::test::read_file(t.file("w.tsv")));
  std::size_t inside = 0;
  for (auto y : pydmed::WindowAxis::of(2967, 128, 128).starts)
    for (auto x : pydmed::WindowAxis::of(2220, 128, 128).starts)
      inside += a.at(double(x) + 64, double(y) + 64) != nullptr;
  EXPECT_EQ(windows.size(), inside + 1);
  for (std::size_t i = 1; i < windows.size(); ++i)
    EXPECT_EQ(windows[i].back(), a.at(std::stod(windows[i][1]) + 64, std::stod(windows[i][2]) + 64)->cls);
  // Bad input: a malformed file, and a bad flag.
  pydmed::test::write_file(t.file("s.geojson"),
                           "{\"type\": \"FeatureCollection\", \"features\": [{\"type\": \"Feature\"}]}");
  EXPECT_EQ(run_command(kCli + " stream " + t.file("s.svs") + " --count 10 --patch 64 --bigchunk 512", nullptr, &err),
            1);
  EXPECT_NE(err.find(t.file("s.geojson") + ": feature 0: not a feature with a geometry"), std::string::npos) << err;
  EXPECT_EQ(run_command(kCli + " stream " + t.file("s.svs") + " --roi inside --count 10", nullptr, &err), 2);
  EXPECT_EQ(run_command(kCli + " stream " + t.file("s.svs") + " --min-roi-fraction 1.5 --count 10", nullptr, &err), 2);
}

// pydmed tissue: the loader's mask as PNG and as GeoJSON polygons that agree with it.
TEST(Cli, TissueWritesTheMaskAndItsPolygons) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " tissue " + wsi("CMU-1-Small-Region.svs") + " --size 256 --out " + t.file("m.png") +
                            " --geojson " + t.file("t.geojson"),
                        &out, &err),
            0)
      << err;
  const auto summary = nlohmann::json::parse(out);
  const cv::Mat mask = cv::imread(t.file("m.png"), cv::IMREAD_GRAYSCALE);
  ASSERT_EQ(mask.cols, summary["mask_width"].get<int>());
  ASSERT_EQ(std::max(mask.cols, mask.rows), 256);
  EXPECT_NEAR(double(cv::countNonZero(mask)) / double(mask.total()), summary["tissue_fraction"].get<double>(), 1e-9);
  EXPECT_GT(summary["tissue_fraction"].get<double>(), 0.05);
  const auto tissue = pydmed::Annotations::read(t.file("t.geojson"));
  const double dx = summary["downsample_x"], dy = summary["downsample_y"];
  int agree = 0;
  for (int y = 0; y < mask.rows; ++y)
    for (int x = 0; x < mask.cols; ++x)
      agree += (tissue.at((x + 0.5) * dx, (y + 0.5) * dy) != nullptr) == (mask.at<std::uint8_t>(y, x) != 0);
  EXPECT_GT(double(agree) / double(mask.total()), 0.97);
  EXPECT_EQ(run_command(kCli + " tissue " + wsi("CMU-1-Small-Region.svs"), nullptr, &err), 2) << "no output asked for";
  EXPECT_EQ(run_command(kCli + " tissue " + t.file("missing.svs") + " --out " + t.file("x.png"), nullptr, &err), 1);
  EXPECT_NE(err.find(t.file("missing.svs")), std::string::npos) << err;
}

TEST(Cli, StreamReportsABrokenSlideAndServesTheOthers) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  const std::string good = pydmed::test::read_file(wsi("CMU-1-Small-Region-pyramid.tiff"));
  pydmed::test::write_file(t.file("a_good.tiff"), good);
  pydmed::test::write_file(t.file("b_cut.tiff"), good.substr(0, good.size() / 3));
  std::string err;
  // Two seconds: the broken slide's loader fails long before, whatever the machine's load.
  EXPECT_EQ(
      run_command(kCli + " stream " + t.path() + " --seconds 2 --patch 32 --bigchunk 2000 --interval-resched 0.05" +
                      " --out " + t.file("s.tsv"),
                  nullptr, &err),
      1);
  EXPECT_NE(err.find("b_cut.tiff"), std::string::npos) << err;
  const auto rows = tsv(pydmed::test::read_file(t.file("s.tsv")));
  ASSERT_GT(rows.size(), 100u);
  for (std::size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i][0], "0") << "only the good slide serves";
}

TEST(Cli, StreamRefusesBadSources) {
  TempDir t;
  std::string err;
  if (pydmed::test::have_wsi()) {  // a slide smaller than the patch fails, is set aside at once, and the run ends
    EXPECT_EQ(run_command(kCli + " stream " + wsi("small.svs") + " --count 5 --patch 48 --bigchunk 300", nullptr, &err),
              1);
    EXPECT_NE(err.find("small.svs: level 0 is 16 x 16 pixels, smaller than the 48 x 48 patch"), std::string::npos)
        << err;
    EXPECT_NE(err.find("(set aside: retrying cannot fix it)"), std::string::npos) << err;
  }
  EXPECT_EQ(run_command(kCli + " stream " + t.file("none.csv") + " --count 5", nullptr, &err), 1);
  EXPECT_NE(err.find("none.csv"), std::string::npos) << err;
  pydmed::test::write_file(t.file("m.csv"), "patient_id,label:x\n1,2\n");
  EXPECT_EQ(run_command(kCli + " stream " + t.file("m.csv") + " --count 5", nullptr, &err), 1);
  EXPECT_NE(err.find("m.csv:1: missing column"), std::string::npos) << err;
  EXPECT_EQ(run_command(kCli + " stream " + t.path() + " --count 5", nullptr, &err), 1);
  EXPECT_NE(err.find("no slides"), std::string::npos) << err;
}

}  // namespace

namespace {

TEST(Cli, SlidingWindowListsExactlyTheExpectedWindows) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  std::string err;
  for (const std::string& args :
       {std::string("--kernel 256 --stride 256"), std::string("--kernel 300 --stride 170 --level 1")}) {
    SCOPED_TRACE(args);
    // Level 1 exists on the ndpi and the pyramid TIFF only: give those as a manifest.
    std::string source = pydmed::test::wsi_dir();
    if (args.find("--level 1") != std::string::npos) {
      pydmed::test::write_file(t.file("m.csv"), "patient_id,record:wsi\n0," + wsi("test3-DAPI-2-387.ndpi") + "\n1," +
                                                    wsi("CMU-1-Small-Region-pyramid.tiff") + "\n");
      source = t.file("m.csv");
    }
    ASSERT_EQ(run_command(kCli + " sliding-window " + source + " " + args + " --out " + t.file("w.tsv") +
                              " --heatmap " + t.file("hm"),
                          nullptr, &err),
              0)
        << err;
    const auto rows = tsv(pydmed::test::read_file(t.file("w.tsv")));
    ASSERT_GT(rows.size(), 1u);
    EXPECT_EQ(rows[0][6], "last_row");
    const int kernel = std::stoi(args.substr(9)), stride = std::stoi(args.substr(args.find("--stride") + 9));
    const int level = args.find("--level 1") != std::string::npos ? 1 : 0;
    const std::vector<std::string> files =
        level == 1 ? std::vector<std::string>{"test3-DAPI-2-387.ndpi", "CMU-1-Small-Region-pyramid.tiff"}
                   : std::vector<std::string>{"CMU-1-Small-Region-pyramid.tiff", "CMU-1-Small-Region.svs", "small.svs",
                                              "test3-DAPI-2-387.ndpi"};
    std::set<std::string> want, got;
    for (std::size_t p = 0; p < files.size(); ++p) {
      const pydmed::Slide s(wsi(files[p]));
      const auto& L = s.level(level);
      const auto xs = pydmed::WindowAxis::of(L.width, kernel, stride),
                 ys = pydmed::WindowAxis::of(L.height, kernel, stride);
      for (std::size_t r = 0; r < ys.starts.size(); ++r)
        for (std::size_t c = 0; c < xs.starts.size(); ++c) {
          const bool lr = ys.extra_last && r + 1 == ys.starts.size(), lc = xs.extra_last && c + 1 == xs.starts.size();
          want.insert(std::to_string(p) + " " + std::to_string(std::llround(double(xs.starts[c]) * L.downsample)) +
                      " " + std::to_string(std::llround(double(ys.starts[r]) * L.downsample)) + " " +
                      std::to_string(int(lr)) + " " + std::to_string(int(lc)) + " " +
                      std::to_string(lr ? ys.last_overlap : 0) + " " + std::to_string(lc ? xs.last_overlap : 0));
        }
      EXPECT_TRUE(std::filesystem::exists(t.file("hm/heatmap_" + std::to_string(p) + ".png")));
    }
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const auto& r = rows[i];
      EXPECT_TRUE(got.insert(r[0] + " " + r[1] + " " + r[2] + " " + r[6] + " " + r[7] + " " + r[8] + " " + r[9]).second)
          << "twice";
      if (level == 0 && i % 97 == 0) {
        const pydmed::Slide s(wsi(files.at(std::stoul(r[0]))));
        const cv::Mat m = s.read_region(std::stoll(r[1]), std::stoll(r[2]), 0, kernel, kernel);
        EXPECT_EQ(r[10], "") << "no mpp without --mpp";
        EXPECT_EQ(std::to_string(crc32(crc32(0L, Z_NULL, 0), m.data, uInt(m.total() * 3))), r[11]);
      }
    }
    EXPECT_EQ(got, want);
  }
}

// --mpp 1.0 on the NDPI: windows laid every 64 pixels at 1 um/px, each read as 70 pixels of
// level 2 (0.9127 um/px) at round(start x 1.0 / 0.9127) and resized; exactly once each.
TEST(Cli, SlidingWindowAtAPhysicalResolution) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  const std::string ndpi = wsi("test3-DAPI-2-387.ndpi");
  std::string err;
  ASSERT_EQ(run_command(kCli + " sliding-window " + ndpi + " --mpp 1.0 --kernel 64 --stride 64 --out " +
                            t.file("w.tsv") + " --heatmap " + t.file("hm"),
                        nullptr, &err),
            0)
      << err;
  const auto rows = tsv(pydmed::test::read_file(t.file("w.tsv")));
  ASSERT_GT(rows.size(), 1u);
  EXPECT_EQ(rows[0][10], "mpp");
  const pydmed::Slide s(ndpi);
  const pydmed::PhysicalRegion r = s.physical_region(1.0, 64, 64);
  ASSERT_EQ(r.level, 2);
  const auto& L = s.level(2);
  const double scale = 1.0 / r.level_mpp_x;
  const auto xs = pydmed::WindowAxis::of(std::int64_t(double(L.width) / scale), 64, 64);
  const auto ys = pydmed::WindowAxis::of(std::int64_t(double(L.height) / scale), 64, 64);
  std::set<std::pair<std::int64_t, std::int64_t>> want, got;
  for (auto y : ys.starts)
    for (auto x : xs.starts)
      want.insert({std::min<std::int64_t>(std::llround(double(x) * scale), L.width - r.width) * 4,
                   std::min<std::int64_t>(std::llround(double(y) * scale), L.height - r.height) * 4});
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& w = rows[i];
    ASSERT_EQ(w.size(), 12u);
    EXPECT_TRUE(got.insert({std::stoll(w[1]), std::stoll(w[2])}).second) << "twice";
    EXPECT_EQ(w[3], "2");
    EXPECT_EQ(w[4], "70");
    EXPECT_EQ(w[10], "1");
    if (i % 11 != 0) continue;
    cv::Mat m;
    cv::resize(s.read_region(std::stoll(w[1]), std::stoll(w[2]), 2, 70, 70), m, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
    EXPECT_EQ(std::to_string(crc32(crc32(0L, Z_NULL, 0), m.data, uInt(m.total() * 3))), w[11]) << "row " << i;
  }
  EXPECT_EQ(got, want);
  EXPECT_TRUE(std::filesystem::exists(t.file("hm/heatmap_0.png")));
}

}  // namespace
