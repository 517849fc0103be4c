// One damaged tile costs the patches and windows over it, never the slide: they are reported
// (patient, position, reason), everything else is served exactly; a slide whose reads mostly
// fail is set aside.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "damaged_slide.hpp"
#include "engine_helpers.hpp"
#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/slide/slide.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

constexpr int kBadCol = 3, kBadRow = 2;
const cv::Rect kBadTile(kBadCol* DamagedSlide::kTile, kBadRow* DamagedSlide::kTile, DamagedSlide::kTile,
                        DamagedSlide::kTile);

Dataset one_slide(const std::string& path) {
  Patient p;
  p.dict_records["wsi"] = Record{"", path, nlohmann::json::object()};
  return Dataset("damaged", {p});
}

TEST(DamagedTiles, SlidingWindowServesEveryWindowButThoseOverTheTile) {
  const DamagedSlide s({{kBadCol, kBadRow}});
  const int kernel = 100, stride = 90;
  // Small BigChunks: the damage falls in some bands and not others.
  auto dl = make_sliding_window(one_slide(s.damaged), SlidingWindowOptions().kernel(kernel).stride(stride),
                                test_options().max_bigchunk_bytes(std::size_t(kernel) * 700 * 3));
  const Delivered d = consume(*dl, 0);
  const Slide clean(s.clean);
  std::set<std::pair<std::int64_t, std::int64_t>> served, reported, want_served, want_reported;
  const auto xs = WindowAxis::of(DamagedSlide::kWidth, kernel, stride),
             ys = WindowAxis::of(DamagedSlide::kHeight, kernel, stride);
  for (auto y : ys.starts)
    for (auto x : xs.starts)
      ((cv::Rect(int(x), int(y), kernel, kernel) & kBadTile).area() > 0 ? want_reported : want_served).insert({x, y});
  for (std::size_t i = 0; i < d.records.size(); ++i) {
    const ChunkRecord& r = d.records[i];
    EXPECT_TRUE(served.insert({r.x, r.y}).second) << "twice";
    const cv::Mat want = clean.read_region(r.x, r.y, 0, kernel, kernel);
    ASSERT_EQ(std::memcmp(want.data, d.pixels[i].data(), d.pixels[i].size()), 0) << r.x << ", " << r.y;
  }
  for (const SkippedReport& k : dl->skipped()) {
    EXPECT_TRUE(reported.insert({k.region.x, k.region.y}).second) << "reported twice";
    EXPECT_EQ(k.patient, 0);
    EXPECT_EQ(k.region.width, kernel);
    EXPECT_NE(k.region.reason.find("window over a damaged tile"), std::string::npos) << k.region.reason;
    EXPECT_NE(k.region.reason.find("damaged.tif"), std::string::npos) << "names the slide: " << k.region.reason;
  }
  EXPECT_EQ(served, want_served);
  EXPECT_EQ(reported, want_reported);
  EXPECT_FALSE(want_reported.empty());
  EXPECT_TRUE(dl->errors().empty()) << dl->errors()[0].message;
  EXPECT_TRUE(dl->stats().patients[0].finished);
  EXPECT_EQ(dl->stats().patients[0].skipped, want_reported.size());
  EXPECT_EQ(dl->stats().produced, want_served.size()) << "reports are not SmallChunks";
}

TEST(DamagedTiles, RandomPatchesAvoidTheTileAndThePatientKeepsServing) {
  const DamagedSlide s({{kBadCol, kBadRow}});
  // BigChunks of 1024 x 1024 in a 2048 x 1536 slide: most of them cover the damaged tile.
  LightDLCore dl(one_slide(s.damaged), random_bigchunk_loader(RandomBigChunkOptions().width(1024).height(1024)),
                 random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(30)),
                 test_options().max_bigchunk_bytes(1024 * 1024 * 3));
  const Delivered d = consume(dl, 1500);
  ASSERT_EQ(d.records.size(), 1500u);
  const Slide clean(s.clean);
  for (std::size_t i = 0; i < d.records.size(); i += 5) {
    const ChunkRecord& r = d.records[i];
    EXPECT_EQ((cv::Rect(int(r.x), int(r.y), 32, 32) & kBadTile).area(), 0) << "a patch over the damaged tile";
    const cv::Mat want = clean.read_region(r.x, r.y, 0, 32, 32);
    ASSERT_EQ(std::memcmp(want.data, d.pixels[i].data(), d.pixels[i].size()), 0) << r.x << ", " << r.y;
  }
  const auto skipped = dl.skipped();
  ASSERT_FALSE(skipped.empty()) << "the damaged tile was met and reported";
  for (const SkippedReport& k : skipped) {
    // The part of the damaged tile inside the BigChunk read.
    const cv::Rect r(int(k.region.x), int(k.region.y), k.region.width, k.region.height);
    EXPECT_GT(r.area(), 0);
    EXPECT_EQ(r & kBadTile, r);
    EXPECT_NE(k.region.reason.find("damaged tile skipped"), std::string::npos) << k.region.reason;
  }
  EXPECT_TRUE(dl.errors().empty()) << dl.errors()[0].message;
  EXPECT_FALSE(dl.stats().patients[0].set_aside);
}

TEST(DamagedTiles, ASlideWhoseReadsMostlyFailIsSetAsideAndTheOthersServe) {
  const DamagedSlide s({});  // every level-0 tile damaged
  std::vector<Patient> ps(2);
  ps[0].int_uniqueid = 0;
  ps[0].dict_records["wsi"] = Record{"", s.damaged, nlohmann::json::object()};
  ps[1].int_uniqueid = 1;
  ps[1].dict_records["wsi"] = Record{"", s.clean, nlohmann::json::object()};
  LightDLCore dl(Dataset("mixed", ps), random_bigchunk_loader(RandomBigChunkOptions().width(512).height(512)),
                 random_smallchunk_collector(), test_options().max_failures(2));
  std::set<std::int64_t> served;
  std::vector<std::uint8_t> buf(32 * 32 * 3 * 32);
  std::vector<ChunkRecord> rec;
  // Until patient 0 is set aside (CTest's timeout bounds it), consuming all along.
  while (!dl.stats().patients[0].set_aside) {
    const std::size_t n = dl.next_batch_for(buf.data(), 32, &rec, 0.1);
    for (std::size_t i = 0; i < n; ++i) served.insert(rec[i].patient);
  }
  EXPECT_EQ(served, std::set<std::int64_t>{1});
  std::string all;
  for (const auto& e : dl.errors()) all += e.message + "\n";
  EXPECT_NE(all.find("most BigChunk reads failed"), std::string::npos) << all;
  EXPECT_NE(all.find("set aside after 2 failures"), std::string::npos) << all;
  EXPECT_EQ(consume(dl, 100).records.size(), 100u) << "the other patient keeps serving";
}

}  // namespace
