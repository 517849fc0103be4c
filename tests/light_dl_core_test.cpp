// LightDLCore end to end: pixels, exactly-once delivery, checkpoints, messages, statuses.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <set>

#include "engine_helpers.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

TEST(LightDLCore, EveryPatchEqualsReadRegionOnRealSlides) {
  PYDMED_REQUIRE_WSI();
  const Dataset ds = real_dataset();
  for (int level : {0, 1}) {
    SCOPED_TRACE("level " + std::to_string(level));
    // Level 1 exists on the ndpi only (downsample exactly 2); the others use level 0.
    Dataset one_level = level == 0 ? ds : Dataset("ndpi", {ds.patient(1)});
    // Three swaps, each after the loaded patients served something: the default policy loads
    // never-visited patients first, so every patient serves before the loader halts and ends.
    // small.svs (16 x 16 pixels) cannot serve a 32 x 32 patch: it fails, clearly, alone.
    LightDLCore dl(one_level, random_bigchunk_loader(test_bigchunks().level(level)),
                   random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(40)),
                   test_options().interval_resched(0.1), std::make_shared<HaltAfter>(3));
    const Delivered d = consume(dl, 0);
    std::set<std::int64_t> patients;
    for (auto& r : d.records) patients.insert(r.patient);
    std::set<std::int64_t> want;
    for (const Patient& p : one_level.list_patients)
      if (p.record("wsi").relativedir != "small.svs") want.insert(p.int_uniqueid);
    EXPECT_EQ(patients, want) << "every patient but small.svs was visited";
    for (const PatientError& e : dl.errors()) {
      EXPECT_EQ(e.patient, 3);
      EXPECT_TRUE(e.message.find("small.svs: level 0 is 16 x 16 pixels, smaller than the 32 x 32 patch") !=
                      std::string::npos ||
                  e.message.find("set aside") != std::string::npos)
          << e.message;
    }
    std::map<std::int64_t, Slide> slides;
    std::set<std::int64_t> checked;
    for (std::size_t i = 0; i < d.records.size(); ++i) {
      const ChunkRecord& r = d.records[i];
      // About 300 checks, and at least one per patient.
      if (i % (1 + d.records.size() / 300) != 0 && checked.count(r.patient)) continue;
      checked.insert(r.patient);
      EXPECT_EQ(r.level, level);
      EXPECT_EQ(r.height, 32);
      auto it = slides.find(r.patient);
      if (it == slides.end())
        it = slides.emplace(r.patient, Slide(one_level.patient(r.patient).record("wsi").path())).first;
      const cv::Mat want = it->second.read_region(r.x, r.y, r.level, 32, 32);
      ASSERT_EQ(std::memcmp(want.data, d.pixels[i].data(), d.pixels[i].size()), 0)
          << "patient " << r.patient << " at " << r.x << "," << r.y;
    }
  }
}

TEST(LightDLCore, EverySmallChunkArrivesExactlyOnceAcrossManySwaps) {
  auto sched = std::make_shared<HaltAfter>(25);
  LightDLCore dl(sample_dataset(6), random_bigchunk_loader(test_bigchunks()),
                 random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(50)),
                 test_options().interval_resched(0.05).maxlength_queue_smallchunk(16), sched);
  const Delivered d = consume(dl, 0);  // until the halted loader ends
  EXPECT_TRUE(dl.finished());
  const LoaderStats st = dl.stats();
  EXPECT_EQ(st.swaps, 25u);
  // Unique ids: (patient, visit, BigChunk, call).
  std::set<std::tuple<std::int64_t, std::uint32_t, std::uint32_t, std::uint64_t>> ids;
  std::map<std::pair<std::int64_t, std::uint32_t>, std::vector<std::pair<std::uint32_t, std::uint64_t>>> per_visit;
  for (const auto& r : d.records) {
    EXPECT_TRUE(ids.insert({r.patient, r.visit, r.bigchunk_number, r.call_count}).second) << "delivered twice";
    per_visit[{r.patient, r.visit}].push_back({r.bigchunk_number, r.call_count});
  }
  // None lost: what the collectors published is what arrived...
  EXPECT_EQ(st.produced, d.records.size());
  EXPECT_EQ(st.delivered, d.records.size());
  // ...and each visit's SmallChunks are an unbroken run: BigChunks 0, 1, ... of 50 calls each,
  // the last one cut short where the patient was swapped out.
  for (auto& [visit, calls] : per_visit) {
    std::sort(calls.begin(), calls.end());
    for (std::size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(calls[i].first, i / 50) << "patient " << visit.first << " visit " << visit.second;
      EXPECT_EQ(calls[i].second, i % 50);
    }
  }
  EXPECT_EQ(per_visit.size(), 2u + 25u) << "the two first visits and one per swap, none empty";
  // The end is an empty batch, and stays so.
  std::vector<std::uint8_t> buf(32 * 32 * 3 * 4);
  EXPECT_EQ(dl.next_batch(buf.data(), 4, nullptr), 0u);
}

// Counts its patches in the checkpoint, as in PyDmed's tutorial, and reports in each
// SmallChunk's info the count, the message it got, and its visit.
class CountingCollector : public SmallChunkCollector {
 public:
  Extraction extract_smallchunk(std::uint64_t call, const BigChunk& bc, const nlohmann::json& message) override {
    if (call >= 20) return Extraction::done();
    const nlohmann::json& old = get_checkpoint();
    const std::int64_t count = (old.is_object() ? old.value("count", 0) : 0) + 1;
    set_checkpoint({{"count", count}});
    set_status({{"last_call", call}, {"visit", visit()}});
    if (call == 0) log("serving BigChunk " + std::to_string(bc.number));
    SmallChunk c;
    c.data = bc.data(cv::Rect(0, 0, 32, 32));
    c.x = bc.region.x, c.y = bc.region.y, c.level = bc.region.level;
    c.info = {{"count", count}, {"message", message}};
    return c;
  }
};

TEST(LightDLCore, CheckpointsSurviveReschedulingAndMessagesAndStatusesArrive) {
  TempDir t;
  // Counts 16 swaps only from the second message on, so later visits surely get it.
  auto sched = std::make_shared<HaltAfter>(16, /*armed=*/false);
  LightDLCore dl(
      sample_dataset(3), random_bigchunk_loader(test_bigchunks()), [] { return std::make_unique<CountingCollector>(); },
      test_options().interval_resched(0.1).maxlength_queue_smallchunk(8).batch_size(16).log_file(t.file("log.txt")),
      sched);
  for (int p = 0; p < 3; ++p) dl.send_message(p, {{"lr", 0.5}});
  Delivered d = consume(dl, 200);
  for (int p = 0; p < 3; ++p) dl.send_message(p, {{"phase", 2}});
  sched->armed = true;
  const Delivered rest = consume(dl, 0);
  d.records.insert(d.records.end(), rest.records.begin(), rest.records.end());
  std::map<std::int64_t, std::vector<std::pair<std::uint32_t, std::int64_t>>> counts;
  std::set<std::int64_t> saw_phase2;
  bool saw_lr = false;
  for (const auto& r : d.records) {
    const auto info = nlohmann::json::parse(r.info_json);
    counts[r.patient].push_back({r.visit, info["count"].get<std::int64_t>()});
    if (info["message"].is_object() && info["message"].value("phase", 0) == 2) saw_phase2.insert(r.patient);
    if (info["message"].is_object() && info["message"].contains("lr")) saw_lr = true;
  }
  EXPECT_TRUE(saw_lr) << "the first message reached the first visits";
  EXPECT_FALSE(saw_phase2.empty()) << "the later message reached a later visit";
  int multi_visit = 0;
  for (auto& [p, v] : counts) {
    std::sort(v.begin(), v.end());
    // The count never restarts: a later visit continues from the checkpoint of the earlier one.
    for (std::size_t i = 1; i < v.size(); ++i) EXPECT_GT(v[i].second, v[i - 1].second) << "patient " << p;
    multi_visit += v.back().first > 0;
    const nlohmann::json cp = dl.get_checkpoint(p);
    ASSERT_TRUE(cp.is_object());
    EXPECT_GE(cp["count"].get<std::int64_t>(), v.back().second);
    const nlohmann::json status = dl.get_status(p);
    ASSERT_TRUE(status.is_object()) << "status of patient " << p;
    EXPECT_TRUE(status.contains("last_call"));
  }
  EXPECT_GT(multi_visit, 0) << "some patient was loaded more than once";
  EXPECT_NE(read_file(t.file("log.txt")).find("serving BigChunk 0"), std::string::npos);
}

// A run stopped and resumed from LightDLCore::state(): visit numbers continue (no (patient,
// visit) stream served twice), checkpoints and swap counts carry over.
TEST(LightDLCore, ResumedRunContinuesVisitsAndCheckpoints) {
  const Dataset ds = sample_dataset(4);
  const Options o = test_options().interval_resched(0.02).maxlength_queue_smallchunk(8).batch_size(16);
  auto counting = [] { return std::make_unique<CountingCollector>(); };
  std::set<std::pair<std::int64_t, std::uint32_t>> first_run;
  std::map<std::int64_t, std::int64_t> last_count;
  nlohmann::json saved;
  {
    LightDLCore dl(ds, random_bigchunk_loader(test_bigchunks()), counting, o);
    const Delivered d = consume(dl, 400);
    dl.stop();                                         // the state after stop(): every visit's checkpoint folded in
    saved = nlohmann::json::parse(dl.state().dump());  // as a file would carry it
    for (const auto& r : d.records) first_run.insert({r.patient, r.visit});
    for (int p = 0; p < 4; ++p) {
      const nlohmann::json cp = dl.get_checkpoint(p);
      if (cp.is_object()) last_count[p] = cp["count"];
    }
  }
  ASSERT_FALSE(last_count.empty());
  LightDLCore dl(ds, random_bigchunk_loader(test_bigchunks()), counting, o);
  dl.restore(saved);
  EXPECT_EQ(dl.stats().swaps, saved["loader"]["swaps"].get<std::uint64_t>());
  const Delivered d = consume(dl, 400);
  std::map<std::int64_t, std::int64_t> first_count;
  for (const auto& r : d.records) {
    EXPECT_EQ(first_run.count({r.patient, r.visit}), 0u) << "patient " << r.patient << " visit " << r.visit << " again";
    EXPECT_GE(r.visit, saved["loader"]["patients"][std::to_string(r.patient)]["visits"].get<std::uint32_t>());
    const auto count = nlohmann::json::parse(r.info_json)["count"].get<std::int64_t>();
    if (!first_count.count(r.patient)) first_count[r.patient] = count;
  }
  for (auto& [p, c] : first_count) {
    if (last_count.count(p)) EXPECT_EQ(c, last_count[p] + 1) << "patient " << p << " went on from its checkpoint";
  }
  // A state is taken only before the first batch, and only a loader state.
  EXPECT_THROW(dl.restore(saved), Error);
  LightDLCore other(ds, random_bigchunk_loader(test_bigchunks()), counting, o);
  EXPECT_THROW(other.restore({{"swaps", 1}}), Error);
}

TEST(LightDLCore, FewerPatientsThanCollectors) {
  LightDLCore dl(sample_dataset(2), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                 test_options().num_bigchunkloaders(4));
  const Delivered d = consume(dl, 300);
  EXPECT_EQ(d.records.size(), 300u);
  const auto loaded = dl.loaded_patients();
  EXPECT_EQ(loaded.size(), 2u);
  EXPECT_EQ(dl.collector_pids().size(), 2u) << "at most one collector per patient";
  std::set<std::int64_t> seen;
  for (auto& r : d.records) seen.insert(r.patient);
  while (seen.size() < 2)  // one collector may start faster; CTest's timeout bounds this
    for (auto& r : consume(dl, 32).records) seen.insert(r.patient);
  EXPECT_EQ(seen.size(), 2u);
}

// When to swap is the policy's (Scheduler::swap_interval), not Options::interval_resched alone.
class SwapClockScheduler : public Scheduler {
 public:
  explicit SwapClockScheduler(std::optional<double> interval) : interval_(interval) {}
  std::optional<double> swap_interval(const SchedulerView&) override { return interval_; }
  SchedDecision schedule(const SchedulerView&, Rng&) override {
    ++calls;
    return SchedDecision::halt();
  }
  std::atomic<int> calls{0};

 private:
  std::optional<double> interval_;
};

TEST(LightDLCore, TheSchedulerDecidesWhenToSwap) {
  {
    // Never: however short interval_resched is, schedule() is not asked and nobody is swapped.
    auto never = std::make_shared<SwapClockScheduler>(std::nullopt);
    LightDLCore dl(sample_dataset(4), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                   test_options().interval_resched(0.001), never);
    const Delivered d = consume(dl, 1500);
    std::set<std::int64_t> seen;
    for (auto& r : d.records) seen.insert(r.patient);
    EXPECT_EQ(never->calls.load(), 0);
    EXPECT_EQ(dl.stats().swaps, 0u);
    EXPECT_LE(seen.size(), 2u) << "only the two patients loaded first served";
    for (const PatientStats& p : dl.view().patient_stats()) EXPECT_LE(p.visits, 1u) << p.patient;
  }
  {
    // Soon: the policy's interval wins over an interval_resched that would never come; its
    // halt ends the loader.
    auto soon = std::make_shared<SwapClockScheduler>(0.001);
    LightDLCore dl(sample_dataset(4), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                   test_options().interval_resched(1e6), soon);
    consume(dl, 0);
    EXPECT_TRUE(dl.finished());
    EXPECT_EQ(soon->calls.load(), 1);
  }
}

TEST(LightDLCore, EmptyDatasetIsRefusedAtConstruction) {
  try {
    LightDLCore dl(Dataset("empty", {}), random_bigchunk_loader(), random_smallchunk_collector(), test_options());
    FAIL() << "an empty dataset was accepted";
  } catch (const DatasetError& e) {
    EXPECT_NE(std::string(e.what()).find("no patients in dataset 'empty'"), std::string::npos) << e.what();
  }
  // A rank whose share is empty (2 patients, 3 ranks) is refused the same way, naming the rank.
  try {
    LightDLCore dl(sample_dataset(2), random_bigchunk_loader(), random_smallchunk_collector(),
                   test_options().rank(2).world_size(3));
    FAIL() << "an empty shard was accepted";
  } catch (const DatasetError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 2 of 3 has no patients"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// No busy-waiting: with the consumer asleep, the whole tree sleeps too.
TEST(LightDLCore, TreeUsesAlmostNoCpuWhileTheConsumerSleeps) {
  LightDLCore dl(sample_dataset(4), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                 test_options().interval_resched(0.3));
  consume(dl, 200);
  // Until the rings are full (however long a loaded machine takes), then past the second after
  // the last request in which a swap may still happen: from there the tree has nothing to do.
  while (dl.stats().ring_fill < dl.stats().ring_capacity) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  while (dl.stats().ring_fill < dl.stats().ring_capacity) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const double before = dl.stats().tree_cpu_s;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const LoaderStats after = dl.stats();
  EXPECT_EQ(after.ring_fill, after.ring_capacity) << "the rings are full";
  EXPECT_LT(after.tree_cpu_s - before, 0.1) << "CPU seconds used in 2 s of a sleeping consumer";
  EXPECT_GT(after.tree_cpu_s, 0.0);
}

}  // namespace
