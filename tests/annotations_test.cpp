// Annotations (QuPath GeoJSON): parsing, the inside test, and the loaders restricted to them
// on a real slide: include, exclude, min_roi_fraction, the sliding window's centre rule.
#include <gtest/gtest.h>

#include <map>
#include <opencv2/imgproc.hpp>

#include "engine_helpers.hpp"
#include "pydmed/data/manifest.hpp"
#include "pydmed/data/record_slide.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/coverage.hpp"
#include "pydmed/extensions/heatmap.hpp"
#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/slide/annotations.hpp"
#include "sample_annotations.hpp"
#include "support.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

Annotations sample() { return Annotations::parse(nlohmann::json::parse(kGeoJson), "roi.geojson"); }

std::string error_of(const std::string& geojson) {
  try {
    Annotations::parse(nlohmann::json::parse(geojson), "bad.geojson");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Annotations, QuPathGeoJsonWithHolesAndMultiPolygons) {
  const Annotations a = sample();
  ASSERT_EQ(a.features().size(), 2u);
  EXPECT_EQ(a.skipped(), 1u) << "a point encloses nothing";
  EXPECT_EQ(a.classes(), (std::vector<std::string>{"Tumor", "Stroma"}));
  EXPECT_EQ(a.features()[1].polygons.size(), 2u);
  EXPECT_EQ(a.at(300, 300)->cls, "Tumor");
  EXPECT_EQ(a.at(700, 700), nullptr) << "in the hole";
  EXPECT_EQ(a.at(1700, 2000)->cls, "Stroma");
  EXPECT_EQ(a.at(300, 2200)->cls, "Stroma");
  EXPECT_EQ(a.at(1300, 1300), nullptr);
  EXPECT_DOUBLE_EQ(a.features()[0].polygons[0].area(), 1000.0 * 1000 - 400.0 * 400);
  // A bare list of features and a single feature read the same.
  const auto j = nlohmann::json::parse(kGeoJson);
  EXPECT_EQ(Annotations::parse(j["features"], "list").features().size(), 2u);
  EXPECT_EQ(Annotations::parse(j["features"][0], "one").at(300, 300)->cls, "Tumor");
}

TEST(Annotations, MalformedFeaturesAreNamed) {
  const std::string two_points = R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [9, 9], [0, 0]]]}},
    {"type": "Feature", "properties": {"name": "cut"}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [5, 5]]]}}]})";
  std::string e = error_of(two_points);
  EXPECT_NE(e.find("bad.geojson: feature 1 ('cut'): a ring has fewer than 3"), std::string::npos) << e;
  e = error_of(
      R"([{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], ["a", 1], [3, 3]]]}}])");
  EXPECT_NE(e.find("bad.geojson: feature 0: a position is not [x, y]"), std::string::npos) << e;
  e = error_of(R"([{"type": "Feature", "geometry": {"type": "Circle", "coordinates": []}}])");
  EXPECT_NE(e.find("unknown geometry type 'Circle'"), std::string::npos) << e;
  e = error_of(R"({"type": 5})");
  EXPECT_NE(e.find("bad.geojson: not GeoJSON features"), std::string::npos) << e;
  e = error_of(R"([{"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": []}}])");
  EXPECT_NE(e.find("bad.geojson: feature 0: a MultiPolygon with no polygons"), std::string::npos) << e;
  e = error_of(R"({"type": "Topology"})");
  EXPECT_NE(e.find("bad.geojson: not GeoJSON features"), std::string::npos) << e;
  TempDir t;
  write_file(t.file("cut.geojson"), std::string(kGeoJson).substr(0, 100));
  try {
    Annotations::read(t.file("cut.geojson"));
    FAIL() << "a truncated file was read";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find(t.file("cut.geojson") + ": not JSON"), std::string::npos) << err.what();
  }
  EXPECT_THROW(Annotations::read(t.file("missing.geojson")), Error);
  EXPECT_THROW(parse_roi_mode("inside"), OptionsError);
}

TEST(Annotations, FractionInsideCountsPixelCentres) {
  const Annotations a = sample();
  EXPECT_DOUBLE_EQ(a.fraction_inside({100, 300, 0, 200, 100, 1.0}), 0.5) << "half of it left of x = 200";
  EXPECT_DOUBLE_EQ(a.fraction_inside({1100, 300, 0, 200, 100, 1.0}), 0.5) << "half of it right of x = 1200";
  EXPECT_DOUBLE_EQ(a.fraction_inside({300, 1100, 0, 100, 200, 1.0}), 0.5) << "half of it below y = 1200";
  EXPECT_DOUBLE_EQ(a.fraction_inside({1169, 300, 0, 32, 32, 1.0}), 31.0 / 32) << "one column past the right edge";
  EXPECT_DOUBLE_EQ(a.fraction_inside({480, 600, 0, 40, 10, 1.0}), 0.5) << "half of it in the hole";
  // Every pixel centre as contains() says, on a slanted edge too.
  const RegionInfo slant{1450, 1850, 0, 64, 48, 1.0};
  int in = 0;
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) in += a.at(1450 + x + 0.5, 1850 + y + 0.5) != nullptr;
  EXPECT_DOUBLE_EQ(a.fraction_inside(slant), in / (64.0 * 48));
  EXPECT_DOUBLE_EQ(a.fraction_inside({600, 600, 0, 100, 100, 1.0}), 0.0) << "in the hole";
  EXPECT_DOUBLE_EQ(a.fraction_inside({400, 400, 0, 100, 100, 1.0}), 1.0);
  // At a level with downsample 4: 50 level pixels cover 200 level-0 pixels.
  EXPECT_DOUBLE_EQ(a.fraction_inside({100, 300, 1, 50, 25, 4.0}), 0.5);
  Rng rng(3);
  for (int i = 0; i < 500; ++i) {
    const auto p = a.random_point(rng);
    ASSERT_TRUE(p);
    EXPECT_NE(a.at(p->x, p->y), nullptr);
  }
}

// A mask's regions become polygons with holes (pydmed tissue's GeoJSON), and read back.
TEST(Annotations, MaskRegionsBecomePolygonsWithHoles) {
  cv::Mat1b mask(100, 120, std::uint8_t(0));
  cv::rectangle(mask, cv::Rect(10, 10, 60, 60), cv::Scalar(255), cv::FILLED);
  cv::rectangle(mask, cv::Rect(30, 30, 20, 20), cv::Scalar(0), cv::FILLED);  // a hole
  cv::circle(mask, cv::Point(95, 80), 10, cv::Scalar(255), cv::FILLED);
  const Annotations a = Annotations::from_mask(mask, 4.0, 2.0, "Tissue");
  ASSERT_EQ(a.features().size(), 1u);
  ASSERT_EQ(a.features()[0].polygons.size(), 2u);
  const Annotations back = Annotations::parse(a.to_geojson(), "round trip");
  EXPECT_EQ(back.classes(), (std::vector<std::string>{"Tissue"}));
  // Every mask pixel, tested at its centre in level-0 pixels: the polygons run through boundary
  // pixels' centres, so only those may go either way.
  int wrong = 0, boundary = 0;
  for (int y = 0; y < mask.rows; ++y)
    for (int x = 0; x < mask.cols; ++x) {
      const bool in = back.at((x + 0.5) * 4.0, (y + 0.5) * 2.0) != nullptr;
      if (in == (mask(y, x) != 0)) continue;
      const cv::Rect around(x - 1, y - 1, 3, 3);
      const cv::Mat1b n = mask(around & cv::Rect(0, 0, mask.cols, mask.rows));
      (cv::countNonZero(n) > 0 && cv::countNonZero(n) < int(n.total()) ? boundary : wrong)++;
    }
  EXPECT_EQ(wrong, 0) << "pixels away from a boundary on the wrong side";
  EXPECT_LT(boundary, 300);
  EXPECT_EQ(back.at(40 * 4.0, 40 * 2.0), nullptr) << "the hole";
}

// The random loader over a manifest with a roi:wsi column: every patch's centre inside, with
// its polygon's class; exclude: never inside; min_roi_fraction: that share of each patch inside.
TEST(Annotations, RandomLoaderServesInsideOrOutside) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_file(t.file("roi.geojson"), kGeoJson);
  write_file(t.file("m.csv"), "patient_id,record:wsi,roi:wsi\n0," + wsi("CMU-1-Small-Region.svs") + ",roi.geojson\n");
  const Dataset ds = read_manifest(t.file("m.csv"));
  EXPECT_EQ(ds.patient(0).record("wsi").dict_infos["roi"], t.file("roi.geojson")) << "relative to the manifest";
  const Annotations a = sample();
  struct Case {
    RoiMode mode;
    double fraction;
  };
  for (const Case c : {Case{RoiMode::Include, 0}, Case{RoiMode::Exclude, 0}, Case{RoiMode::Include, 0.9}}) {
    SCOPED_TRACE(std::string(to_string(c.mode)) + " " + std::to_string(c.fraction));
    LightDLCore dl(
        ds,
        random_bigchunk_loader(RandomBigChunkOptions().width(512).height(512).roi(c.mode).min_roi_fraction(c.fraction)),
        random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(20)), test_options());
    const Delivered d = consume(dl, 600);
    ASSERT_EQ(d.records.size(), 600u);
    std::map<std::string, int> classes;
    for (const ChunkRecord& r : d.records) {
      const Annotation* at = a.at(double(r.x) + 16, double(r.y) + 16);
      const nlohmann::json info = r.info_json.empty() ? nlohmann::json() : nlohmann::json::parse(r.info_json);
      if (c.mode == RoiMode::Exclude) {
        EXPECT_EQ(at, nullptr) << "patch at " << r.x << ", " << r.y << " is inside";
        EXPECT_FALSE(info.contains("roi"));
        continue;
      }
      if (c.fraction > 0)
        EXPECT_GE(a.fraction_inside({r.x, r.y, 0, 32, 32, 1.0}), 0.9);
      else {
        ASSERT_NE(at, nullptr) << "patch at " << r.x << ", " << r.y << " is outside";
        EXPECT_EQ(info.value("roi", ""), at->cls);
      }
      ++classes[info.value("roi", "")];
    }
    if (c.mode == RoiMode::Include) EXPECT_EQ(classes.size(), 2u) << "both classes served";
  }
}

// The sliding window lists exactly the windows whose centre is inside (or outside).
TEST(Annotations, SlidingWindowListsTheWindowsByTheirCentre) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_file(t.file("CMU-1-Small-Region.geojson"), kGeoJson);
  std::filesystem::copy_file(wsi("CMU-1-Small-Region.svs"), t.file("CMU-1-Small-Region.svs"));
  const Dataset ds = dataset_from_source(t.file("CMU-1-Small-Region.svs"));
  ASSERT_EQ(ds.patient(0).record("wsi").dict_infos.value("roi", ""), t.file("CMU-1-Small-Region.geojson"))
      << "found beside the slide";
  const Annotations a = sample();
  const int k = 128;
  const auto xs = WindowAxis::of(2220, k, k), ys = WindowAxis::of(2967, k, k);
  for (RoiMode mode : {RoiMode::Include, RoiMode::Exclude}) {
    std::set<std::pair<std::int64_t, std::int64_t>> want, got;
    for (auto y : ys.starts)
      for (auto x : xs.starts)
        if ((a.at(double(x) + k / 2.0, double(y) + k / 2.0) != nullptr) == (mode == RoiMode::Include))
          want.insert({x, y});
    auto dl = make_sliding_window(ds, SlidingWindowOptions().kernel(k).stride(k).roi(mode), test_options());
    const Delivered d = consume(*dl, 0);
    for (const ChunkRecord& r : d.records) {
      EXPECT_TRUE(got.insert({r.x, r.y}).second) << "twice";
      if (mode == RoiMode::Include)
        EXPECT_EQ(nlohmann::json::parse(r.info_json).value("roi", "?"),
                  a.at(double(r.x) + k / 2.0, double(r.y) + k / 2.0)->cls);
    }
    EXPECT_EQ(got, want) << to_string(mode);
    EXPECT_TRUE(dl->finished());
  }
}

// Coverage pictures and heatmaps draw the outlines, a colour per class, and nothing else.
TEST(Annotations, PicturesDrawTheOutlines) {
  PYDMED_REQUIRE_WSI();
  const Slide slide(wsi("CMU-1-Small-Region.svs"));
  const Annotations a = sample();
  CoverageRecorder none;
  const cv::Mat plain = none.picture(0, slide, 512), drawn = none.picture(0, slide, 512, &a);
  const double s = double(plain.cols) / 2220.0;
  auto at = [&](const cv::Mat& m, double x, double y) { return m.at<cv::Vec3b>(int(y * s), int(x * s)); };
  EXPECT_GT(at(drawn, 700, 200)[2], 180) << "Tumor's top edge, red";
  EXPECT_LT(at(drawn, 700, 200)[1], 60);
  EXPECT_GT(at(drawn, 350, 2000)[0], 180) << "Stroma's square, the second colour (blue-ish)";
  EXPECT_EQ(at(drawn, 700, 700), at(plain, 700, 700)) << "inside the hole, away from lines";
  EXPECT_EQ(at(drawn, 1900, 400), at(plain, 1900, 400));
  const Heatmap h = Heatmap::from_windows(slide, {{200, 200, 0, 64, 64, {1.0f}}, {600, 200, 0, 64, 64, {2.0f}}}, 64);
  const cv::Mat over = h.overlay(slide, 0, 0.5, cv::COLORMAP_JET, 512, &a);
  EXPECT_GT(over.at<cv::Vec3b>(int(200 * s), int(700 * s))[2], 180);
}

// A rule nothing can meet fails the patient with one line, instead of reading BigChunks forever;
// a small polygon is found at once.
TEST(Annotations, UnmeetableRulesFailAndSmallPolygonsAreFound) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  auto run = [&](const std::string& geojson, RoiMode mode, std::size_t want, std::vector<ChunkRecord>* got) {
    write_file(t.file("r.geojson"), geojson);
    write_file(t.file("m.csv"), "patient_id,record:wsi,roi:wsi\n0," + wsi("CMU-1-Small-Region.svs") + ",r.geojson\n");
    LightDLCore dl(read_manifest(t.file("m.csv")),
                   random_bigchunk_loader(RandomBigChunkOptions().width(512).height(512).roi(mode)),
                   random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(20)),
                   test_options().max_failures(1));
    const Delivered d = consume(dl, want);
    if (got) *got = d.records;
    return std::make_pair(dl.errors().empty() ? std::string() : dl.errors().front().message, dl.stats().bigchunks);
  };
  auto square = [](int x, int y, int side) {
    return R"({"type": "Feature", "properties": {"name": "s"}, "geometry": {"type": "Polygon", "coordinates": [[[)" +
           std::to_string(x) + "," + std::to_string(y) + "],[" + std::to_string(x + side) + "," + std::to_string(y) +
           "],[" + std::to_string(x + side) + "," + std::to_string(y + side) + "],[" + std::to_string(x) + "," +
           std::to_string(y + side) + "]]]}}";
  };
  auto [outside, n0] = run(square(20000, 20000, 100), RoiMode::Include, 10, nullptr);
  EXPECT_NE(outside.find("r.geojson: the annotations lie outside the slide's 2220 x 2967 pixels"), std::string::npos)
      << outside;
  auto [everything, n1] = run(square(-10, -10, 5000), RoiMode::Exclude, 10, nullptr);
  EXPECT_NE(everything.find("BigChunks in a row held no patch outside the annotations"), std::string::npos)
      << everything;
  std::vector<ChunkRecord> small;
  auto [none, bigchunks] = run(square(1000, 1000, 40), RoiMode::Include, 100, &small);
  EXPECT_EQ(none, "");
  ASSERT_EQ(small.size(), 100u);
  EXPECT_LE(bigchunks, 10u) << "20 patches from each BigChunk placed over the 40-pixel square";
  EXPECT_THROW(random_bigchunk_loader(RandomBigChunkOptions().min_roi_fraction(std::nan(""))), OptionsError);
  EXPECT_THROW(random_smallchunk_collector(RandomSmallChunkOptions().min_tissue(1.5)), OptionsError);
}

TEST(Annotations, AMalformedFileFailsThePatientNamingIt) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_file(t.file("bad.geojson"),
             R"([{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0]]]}}])");
  write_file(t.file("m.csv"), "patient_id,record:wsi,roi:wsi\n0," + wsi("CMU-1-Small-Region.svs") + ",bad.geojson\n");
  LightDLCore dl(read_manifest(t.file("m.csv")), random_bigchunk_loader(RandomBigChunkOptions().width(256).height(256)),
                 random_smallchunk_collector(), test_options().max_failures(1));
  const Delivered d = consume(dl, 10);
  EXPECT_TRUE(d.records.empty());
  ASSERT_FALSE(dl.errors().empty());
  EXPECT_NE(dl.errors().front().message.find(t.file("bad.geojson") + ": feature 0"), std::string::npos)
      << dl.errors().front().message;
}

}  // namespace
