// StreamCollector in its three modes over a whole-slide run, and the CSV round trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "engine_helpers.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/heatmap.hpp"
#include "pydmed/torch/extension_dls.hpp"
#include "pydmed/torch/stream_collector.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

const auto kSw = SlidingWindowOptions().level(2).kernel(64).stride(64);

LightDL whole_slide() {
  const Dataset ds("ndpi", {real_dataset().patient(1)});
  return SlidingWindowDL(ds, kSw, test_options());
}

std::size_t expected_windows() {
  const Slide s(real_dataset().patient(1).record("wsi").path());
  return WindowAxis::of(s.level(2).width, 64, 64).starts.size() *
         WindowAxis::of(s.level(2).height, 64, 64).starts.size();
}

// The "model": mean intensity of each window, and its red mean.
torch::Tensor means(Batch& b) {
  const auto f = b.data.to(torch::kFloat32);
  return torch::stack({f.mean({1, 2, 3}), f.select(1, 0).mean({1, 2})}, 1);
}

TEST(StreamCollector, SaveAllCollatesPerPatient) {
  PYDMED_REQUIRE_WSI();
  StreamCollector sc(whole_slide(), means, StreamCollectorOptions().mode(CollectMode::SaveAll).batch_size(32));
  EXPECT_EQ(sc.run(), expected_windows());
  ASSERT_EQ(sc.collected().size(), 1u);
  const auto& c = sc.collected().at(1);
  EXPECT_EQ(c.outputs.sizes(), (std::vector<std::int64_t>{std::int64_t(expected_windows()), 2}));
  EXPECT_EQ(c.records.size(), expected_windows());
  // Row i belongs to record i: check one window against the slide itself.
  const Slide s(real_dataset().patient(1).record("wsi").path());
  const auto& r = c.records[7];
  const cv::Mat px = s.read_region(r.x, r.y, 2, 64, 64);
  EXPECT_NEAR(c.outputs[7][0].item<float>(), cv::mean(px.reshape(1))[0], 1e-3);
}

TEST(StreamCollector, AccumulateKeepsAStatisticPerPatient) {
  PYDMED_REQUIRE_WSI();
  auto accum = [](const torch::Tensor& prev, const torch::Tensor& out, const std::vector<ChunkRecord>& recs) {
    const auto step = torch::stack({out.select(1, 0).sum(), torch::tensor(float(recs.size()))});
    return prev.defined() ? prev + step : step;
  };
  StreamCollector sc(whole_slide(), means, StreamCollectorOptions().mode(CollectMode::Accumulate), accum);
  sc.run();
  const auto stat = sc.statistics().at(1);
  EXPECT_EQ(stat[1].item<float>(), float(expected_windows()));
  EXPECT_GT(stat[0].item<float>(), 0);
}

TEST(StreamCollector, StreamToOneCsvRoundTrips) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  StreamCollector sc(whole_slide(), means,
                     StreamCollectorOptions().mode(CollectMode::StreamToFile).csv_file(t.file("o.csv")));
  sc.run();
  StreamCollector saved(whole_slide(), means, StreamCollectorOptions().mode(CollectMode::SaveAll));
  saved.run();
  const auto rows = Heatmap::read_csv(t.file("o.csv"), 1);
  ASSERT_EQ(rows.size(), expected_windows());
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<float>> by_pos;
  for (const auto& w : rows) by_pos[{w.x, w.y}] = w.values;
  const auto& c = saved.collected().at(1);
  for (std::size_t i = 0; i < c.records.size(); i += 11) {
    const auto& v = by_pos.at({c.records[i].x, c.records[i].y});
    EXPECT_NEAR(v[0], c.outputs[std::int64_t(i)][0].item<float>(), 1e-3);
    EXPECT_NEAR(v[1], c.outputs[std::int64_t(i)][1].item<float>(), 1e-3);
  }
}

TEST(StreamCollector, OneCsvPerPatientNeedsAnEmptyFolder) {
  TempDir t;
  const Dataset& ds = sample_dataset(2);
  auto dl = [&] { return SlidingWindowDL(ds, SlidingWindowOptions().level(2).kernel(32).stride(32), test_options()); };
  StreamCollector sc(dl(), means, StreamCollectorOptions().mode(CollectMode::StreamToFile).csv_folder(t.file("out")));
  sc.run();
  EXPECT_TRUE(std::filesystem::exists(t.file("out/patient_0.csv")));
  EXPECT_TRUE(std::filesystem::exists(t.file("out/patient_1.csv")));
  EXPECT_EQ(Heatmap::read_csv(t.file("out/patient_1.csv"), 1).size(), 64u);  // 256 / 32 squared
  try {
    StreamCollector again(dl(), means,
                          StreamCollectorOptions().mode(CollectMode::StreamToFile).csv_folder(t.file("out")));
    FAIL() << "a non-empty folder was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not empty"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(t.file("out")), std::string::npos);
  }
  EXPECT_THROW(StreamCollector(dl(), means, StreamCollectorOptions().mode(CollectMode::Accumulate)), Error);
}

TEST(StreamCollector, FinishConditionStopsEarly) {
  StreamCollector sc(
      SlidingWindowDL(sample_dataset(2), SlidingWindowOptions().level(0).kernel(32).stride(32), test_options()), means,
      StreamCollectorOptions().batch_size(16), nullptr, [](const StreamCollector& s) { return s.processed() >= 100; });
  EXPECT_EQ(sc.run(), 112u);  // seven batches of 16: the check runs between batches
}

// Resumable over a SlidingWindowDL: stopped again and again (finish() after a few batches), and
// once as a crash would leave it (the CSV and state as they were at a mid-run moment, an
// uncommitted tail included), every window is written once.
TEST(StreamCollector, ResumesFromItsStateEveryWindowOnce) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  const std::string csv = t.file("out.csv"), state = t.file("state.json");
  auto opts = StreamCollectorOptions()
                  .mode(CollectMode::StreamToFile)
                  .csv_file(csv)
                  .state_file(state)
                  .state_every(0)
                  .batch_size(16);
  bool crashed = false;
  for (int run = 0; run < 100; ++run) {
    int batches = 0;
    std::string snap_csv, snap_state;
    StreamCollector sc(whole_slide(), means, opts, nullptr, [&](const StreamCollector&) {
      // A crash, once: what the files held just after the third batch's commit, with the
      // fourth batch's rows written after it (and never committed).
      if (!crashed && batches == 4) {
        snap_csv = read_file(csv), snap_state = read_file(state);
      }
      return ++batches > 5;
    });
    const std::uint64_t n = sc.run();
    if (!crashed && !snap_state.empty()) {
      write_file(csv, snap_csv + "9,9,9,9,9,9,9,9\n");  // an uncommitted tail
      write_file(state, snap_state);
      crashed = true;
    }
    if (n == 0) break;
  }
  EXPECT_TRUE(crashed);
  std::istringstream in(read_file(csv));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "patient,x,y,level,width,height,v0,v1");
  std::set<std::pair<std::int64_t, std::int64_t>> seen;
  std::size_t rows = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string patient, x, y;
    std::getline(f, patient, ',');
    std::getline(f, x, ',');
    std::getline(f, y, ',');
    EXPECT_TRUE(seen.insert({std::stoll(x), std::stoll(y)}).second) << "window written twice: " << line;
    ++rows;
  }
  EXPECT_EQ(rows, expected_windows());
}

}  // namespace
