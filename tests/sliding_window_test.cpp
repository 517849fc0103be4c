// SlidingWindowDL on real slides: the delivered windows are exactly the expected tiling, each
// once, with the right flags and pixels, also when patients are swapped mid-slide.
#include <gtest/gtest.h>

#include <map>

#include "engine_helpers.hpp"
#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/slide/slide.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

struct Expected {
  std::set<std::tuple<std::int64_t, std::int64_t, std::int64_t>> windows;  // patient, x, y (level-0)
};

Expected expected_tiling(const Dataset& ds, int level, int kernel, int stride) {
  Expected e;
  for (const Patient& p : ds.list_patients) {
    const Slide s(p.record("wsi").path());
    const LevelInfo& L = s.level(level);
    const auto xs = WindowAxis::of(L.width, kernel, stride), ys = WindowAxis::of(L.height, kernel, stride);
    for (auto y : ys.starts)
      for (auto x : xs.starts)
        e.windows.insert(
            {p.int_uniqueid, std::llround(double(x) * L.downsample), std::llround(double(y) * L.downsample)});
  }
  return e;
}

void check_run(LightDLCore& dl, const Dataset& ds, int level, int kernel, int stride, bool check_pixels) {
  const Delivered d = consume(dl, 0);
  EXPECT_TRUE(dl.finished());
  EXPECT_TRUE(dl.errors().empty()) << dl.errors()[0].message;
  const Expected e = expected_tiling(ds, level, kernel, stride);
  std::set<std::tuple<std::int64_t, std::int64_t, std::int64_t>> got;
  std::map<std::int64_t, Slide> slides;
  for (std::size_t i = 0; i < d.records.size(); ++i) {
    const ChunkRecord& r = d.records[i];
    EXPECT_TRUE(got.insert({r.patient, r.x, r.y}).second) << "window delivered twice: " << r.x << "," << r.y;
    EXPECT_EQ(r.level, level);
    const WindowInfo w = WindowInfo::from_json(r.info_json);
    const Slide& s = slides.try_emplace(r.patient, ds.patient(r.patient).record("wsi").path()).first->second;
    const LevelInfo& L = s.level(level);
    const auto xs = WindowAxis::of(L.width, kernel, stride), ys = WindowAxis::of(L.height, kernel, stride);
    EXPECT_EQ(w.last_col, xs.extra_last && w.col + 1 == std::int64_t(xs.starts.size()));
    EXPECT_EQ(w.last_row, ys.extra_last && w.row + 1 == std::int64_t(ys.starts.size()));
    if (w.last_col) EXPECT_EQ(w.overlap_x, xs.starts[xs.starts.size() - 2] + kernel - xs.starts.back());
    if (check_pixels && i % 7 == 0) {
      const cv::Mat want = s.read_region(r.x, r.y, level, kernel, kernel);
      ASSERT_EQ(std::memcmp(want.data, d.pixels[i].data(), d.pixels[i].size()), 0)
          << r.patient << " " << r.x << "," << r.y;
    }
  }
  EXPECT_EQ(got, e.windows);
}

TEST(SlidingWindow, ExactTilingOnRealSlides) {
  PYDMED_REQUIRE_WSI();
  const Dataset all = real_dataset();
  const Dataset ndpi("ndpi", {all.patient(1)});
  struct Case {
    const Dataset* ds;
    int level, kernel, stride;
  };
  // Strides that divide, that do not, and overlapping windows; levels 0 to 2 of the ndpi.
  for (const Case& c : {Case{&all, 0, 256, 256}, Case{&all, 0, 200, 150}, Case{&all, 0, 300, 400},
                        Case{&ndpi, 1, 128, 100}, Case{&ndpi, 2, 64, 64}, Case{&ndpi, 2, 100, 77}}) {
    SCOPED_TRACE("level " + std::to_string(c.level) + " kernel " + std::to_string(c.kernel) + " stride " +
                 std::to_string(c.stride));
    // Small BigChunks, so slides take several bands and band blocks.
    auto dl = make_sliding_window(*c.ds, SlidingWindowOptions().level(c.level).kernel(c.kernel).stride(c.stride),
                                  test_options().max_bigchunk_bytes(std::size_t(c.kernel) * 700 * 3));
    check_run(*dl, *c.ds, c.level, c.kernel, c.stride, true);
  }
}

// The default scheduler swaps patients every 20 ms, mid-band: the checkpoint must resume at the
// exact window.
TEST(SlidingWindow, SwapsMidSlideNeitherRepeatNorSkip) {
  PYDMED_REQUIRE_WSI();
  const Dataset ds = real_dataset();
  const auto sw = SlidingWindowOptions().kernel(64).stride(48);
  LightDLCore dl(
      ds, sliding_window_loader(sw), sliding_window_collector(sw),
      sliding_window_options(
          sw, test_options().num_bigchunkloaders(1).maxlength_queue_smallchunk(8).batch_size(8).max_bigchunk_bytes(
                  64 * 900 * 3))
          .interval_resched(0.02),
      std::make_shared<Scheduler>());
  check_run(dl, ds, 0, 64, 48, false);
  EXPECT_GT(dl.stats().swaps, 5u);
  for (const auto& p : dl.stats().patients) EXPECT_TRUE(p.finished) << p.patient;
}

// The library path of a resumable run: a consumer that takes some windows, saves
// WindowProgress::resume_state and drops the loader mid-run (what it had not taken is lost with
// it), then a new loader restored from the state, again and again: every window exactly once.
TEST(SlidingWindow, ResumedFromWindowProgressEveryWindowOnce) {
  PYDMED_REQUIRE_WSI();
  const Dataset ds = real_dataset();
  const auto sw = SlidingWindowOptions().kernel(64).stride(64);
  const Options o = test_options().num_bigchunkloaders(2).maxlength_queue_smallchunk(16).batch_size(16);
  std::set<std::tuple<std::int64_t, std::int64_t, std::int64_t>> got;
  nlohmann::json saved;
  int runs = 0;
  for (bool done = false; !done; ++runs) {
    ASSERT_LT(runs, 200) << "no progress";
    auto dl = make_sliding_window(ds, sw, o);
    WindowProgress progress(saved);
    if (!saved.is_null()) dl->restore(saved);
    // Some batches, then the loader is dropped with its rings full (a crash, for the consumer).
    const Delivered d = consume(*dl, 700, 16);
    for (const ChunkRecord& r : d.records) {
      EXPECT_TRUE(got.insert({r.patient, r.x, r.y}).second) << "window delivered twice: " << r.x << "," << r.y;
      progress.delivered(r);
    }
    done = d.records.size() < 700;  // the loader ended: nothing left
    saved = nlohmann::json::parse(progress.resume_state(*dl).dump());
  }
  EXPECT_GT(runs, 3);
  EXPECT_EQ(got, expected_tiling(ds, 0, 64, 64).windows);
}

// LightDLCore::progress, polled mid-run and at the end, counts what the consumer took.
TEST(SlidingWindow, ProgressCountsWhatWasDelivered) {
  PYDMED_REQUIRE_WSI();
  const Dataset ds = real_dataset();
  auto dl = make_sliding_window(ds, SlidingWindowOptions().kernel(128).stride(128), test_options());
  const Delivered first = consume(*dl, 50, 10);
  ASSERT_EQ(first.records.size(), 50u);
  RunProgress p = dl->progress();
  EXPECT_EQ(p.items_done, 50);
  EXPECT_EQ(p.slides_total, std::int64_t(ds.size()));
  EXPECT_EQ(p.current, ds.patient(first.records.back().patient).record("wsi").path());
  const Delivered rest = consume(*dl, 0);
  p = dl->progress();
  EXPECT_EQ(p.items_done, std::int64_t(50 + rest.records.size()));
  EXPECT_EQ(p.slides_done, std::int64_t(ds.size()));
  ASSERT_TRUE(p.eta_s.has_value());
  EXPECT_EQ(*p.eta_s, 0.0);
  EXPECT_EQ(p.to_json()["items_done"], p.items_done);
}

TEST(SlidingWindow, AxisFlagsTheExtraLastWindow) {
  const auto a = WindowAxis::of(1000, 224, 224);
  EXPECT_EQ(a.starts, (std::vector<std::int64_t>{0, 224, 448, 672, 776}));
  EXPECT_TRUE(a.extra_last);
  EXPECT_EQ(a.last_overlap, 672 + 224 - 776);
  const auto b = WindowAxis::of(896, 224, 224);
  EXPECT_FALSE(b.extra_last);
  EXPECT_EQ(b.starts.size(), 4u);
  EXPECT_EQ(WindowAxis::of(100, 224, 224).starts, (std::vector<std::int64_t>{0}));
}

}  // namespace
