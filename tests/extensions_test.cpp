// LabelBalancedDL's scheduling, heatmaps and coverage pictures.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "engine_helpers.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/coverage.hpp"
#include "pydmed/extensions/heatmap.hpp"
#include "pydmed/extensions/label_balanced.hpp"
#include "pydmed/extensions/sliding_window.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

TEST(LabelBalanced, LoadedLabelsStayEvenOnANineToOneDataset) {
  const Dataset& slides = sample_dataset(2);
  std::vector<Patient> ps;
  for (int i = 0; i < 20; ++i) {  // 18 of label 0, 2 of label 1
    Patient p;
    p.int_uniqueid = i;
    p.dict_records["wsi"] = slides.list_patients[std::size_t(i % 2)].record("wsi");
    p.labels["class"] = i < 18 ? 0 : 1;
    ps.push_back(p);
  }
  const Dataset ds("unbalanced", ps);
  LightDLCore dl(ds, random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                 test_options().num_bigchunkloaders(4).interval_resched(0.03),
                 label_balanced_scheduler([](const Patient& p) { return p.labels["class"]; }));
  std::vector<std::uint8_t> buf(32 * 32 * 3 * 32);
  // Until every label-0 patient had its turn (16 swaps at least), however long a loaded
  // machine takes (CTest's timeout bounds it); the loaded labels are checked all along.
  int samples = 0;
  auto all_visited = [&] {
    for (const auto& p : dl.stats().patients)
      if (p.visits == 0) return false;
    return true;
  };
  while (samples < 50 || !all_visited()) {
    dl.next_batch_for(buf.data(), 32, nullptr, 0.02);
    const auto loaded = dl.loaded_patients();
    if (loaded.size() < 4) continue;  // in the middle of a swap
    int ones = 0;
    for (auto id : loaded) ones += id >= 18;
    ASSERT_EQ(ones, 2) << "4 loaded should hold both label-1 patients";
    ++samples;
  }
}

TEST(Heatmap, MeanIntensityMatchesTheDownsampledSlide) {
  PYDMED_REQUIRE_WSI();
  const Dataset ds("cmu", {real_dataset().patient(0)});
  auto dl = make_sliding_window(ds, SlidingWindowOptions().kernel(64).stride(64),
                                test_options().max_bigchunk_bytes(64 * 2300 * 3));
  const Delivered d = consume(*dl, 0);
  std::vector<WindowValue> values;
  for (std::size_t i = 0; i < d.records.size(); ++i) {
    const ChunkRecord& r = d.records[i];
    const cv::Mat px(64, 64, CV_8UC3, const_cast<std::uint8_t*>(d.pixels[i].data()));
    cv::Mat grey;
    cv::cvtColor(px, grey, cv::COLOR_RGB2GRAY);
    values.push_back({r.x, r.y, r.level, r.width, r.height, {float(cv::mean(grey)[0])}});
  }
  const Slide slide(ds.list_patients[0].record("wsi").path());
  const Heatmap h = Heatmap::from_windows(slide, values, 64);
  ASSERT_EQ(h.values().cols, 35);  // ceil(2220 / 64)
  ASSERT_EQ(h.values().rows, 47);
  cv::Mat grey, small;
  cv::cvtColor(slide.read_region(0, 0, 0, 2220, 2967), grey, cv::COLOR_RGB2GRAY);
  cv::resize(grey, small, h.values().size(), 0, 0, cv::INTER_AREA);
  small.convertTo(small, CV_32F);
  // Pearson correlation over the cells that windows cover.
  double n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (int r = 0; r < small.rows; ++r)
    for (int c = 0; c < small.cols; ++c) {
      const double a = h.values().at<float>(r, c), b = small.at<float>(r, c);
      if (a != a) continue;
      n += 1, sa += a, sb += b, saa += a * a, sbb += b * b, sab += a * b;
    }
  const double corr = (n * sab - sa * sb) / std::sqrt((n * saa - sa * sa) * (n * sbb - sb * sb));
  EXPECT_GT(corr, 0.95);
  EXPECT_GT(n, 0.9 * 35 * 47);
  TempDir t;
  h.save_npy(t.file("h.npy"));
  const std::string npy = read_file(t.file("h.npy"));
  EXPECT_EQ(npy.substr(1, 5), "NUMPY");
  EXPECT_NE(npy.find("'shape': (47, 35, 1)"), std::string::npos);
  EXPECT_EQ(npy.size() % 4, (128 + 47 * 35 * 4) % 4);
  h.save_png(t.file("h.png"), slide);
  const cv::Mat png = cv::imread(t.file("h.png"));
  EXPECT_EQ(std::max(png.cols, png.rows), 1024);
}

TEST(Heatmap, ReadsStreamCollectorCsvAndNamesBadLines) {
  TempDir t;
  write_file(t.file("o.csv"),
             "patient,x,y,level,width,height,v0,v1\n3,0,0,0,10,10,1.5,2\n4,5,5,0,10,10,7,8\n3,10,0,0,10,10,2.5,3\n");
  const auto w = Heatmap::read_csv(t.file("o.csv"), 3);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[1].x, 10);
  EXPECT_FLOAT_EQ(w[1].values[1], 3.0f);
  write_file(t.file("bad.csv"), "patient,x,y,level,width,height,v0\n3,0,0,0,10,10,1\n3,zero,0,0,10,10,1\n");
  try {
    Heatmap::read_csv(t.file("bad.csv"), 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:3"), std::string::npos) << e.what();
  }
}

TEST(Coverage, PicturesShowWhereSmallChunksCameFrom) {
  LightDLCore dl(sample_dataset(2), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                 test_options());
  const Delivered d = consume(dl, 200);
  CoverageRecorder cov;
  cov.add(d.records);
  ASSERT_FALSE(cov.patients().empty());
  const std::int64_t id = cov.patients()[0];
  const Slide slide(sample_dataset(2).patient(id).record("wsi").path());
  const cv::Mat pic = cov.picture(id, slide, 256);
  cv::Mat plain;
  cv::cvtColor(slide.thumbnail(256), plain, cv::COLOR_RGB2BGR);
  // Outlines change the picture exactly where patches were taken.
  cv::Mat diff;
  cv::absdiff(pic, plain, diff);
  EXPECT_GT(cv::countNonZero(diff.reshape(1)), 50);
  TempDir t;
  cov.save_pngs(t.path(), sample_dataset(2));
  EXPECT_FALSE(cv::imread(t.file("coverage_" + std::to_string(id) + ".png")).empty());
}

}  // namespace
