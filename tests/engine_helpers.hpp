#pragma once
// Shared pieces of the engine tests: datasets over real and generated slides, loader
// options sized for tests, and a consumer loop.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>
#include <tuple>

#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/engine/light_dl_core.hpp"
#include "support.hpp"

namespace pydmed::test {

// The four real slides of ../shared/wsi, one patient each (ids 0..3).
inline Dataset real_dataset() {
  std::vector<Patient> ps;
  const char* files[] = {"CMU-1-Small-Region.svs", "test3-DAPI-2-387.ndpi", "CMU-1-Small-Region-pyramid.tiff",
                         "small.svs"};
  for (int i = 0; i < 4; ++i) {
    Patient p;
    p.int_uniqueid = i;
    p.dict_records["wsi"] = Record{wsi_dir(), files[i], nlohmann::json::object()};
    p.labels["class"] = i % 2;
    ps.push_back(p);
  }
  return Dataset("real", ps);
}

// Small generated slides, made once per test binary run in a temporary folder.
inline const Dataset& sample_dataset(int count = 6) {
  static TempDir dir;
  static std::map<int, Dataset> made;
  auto it = made.find(count);
  if (it == made.end()) {
    it = made.emplace(count, make_sample_dataset(dir.path() + "/n" + std::to_string(count), count, 1024, 7)).first;
  }
  return it->second;
}

inline Options test_options() {
  return Options()
      .num_bigchunkloaders(2)
      .maxlength_queue_smallchunk(64)
      .maxlength_queue_lightdl(1000)
      .batch_size(32)
      .patch_shape({32, 32, 3})
      .max_bigchunk_bytes(512 * 512 * 3)
      .interval_resched(0.2)
      .collector_nice(0);
}

inline RandomBigChunkOptions test_bigchunks() { return RandomBigChunkOptions().width(256).height(256); }

struct Delivered {
  std::vector<ChunkRecord> records;
  std::vector<std::vector<std::uint8_t>> pixels;
};

// Takes batches until `count` SmallChunks arrived or the loader ends (count 0: until it ends).
inline Delivered consume(LightDLCore& dl, std::size_t count, std::size_t batch = 32) {
  Delivered d;
  const std::size_t bytes = dl.options().patch_shape().bytes();
  std::vector<std::uint8_t> buf(batch * bytes);
  std::vector<ChunkRecord> rec;
  while (count == 0 || d.records.size() < count) {
    const std::size_t want = count == 0 ? batch : std::min(batch, count - d.records.size());
    const std::size_t n = dl.next_batch(buf.data(), want, &rec);
    if (n == 0) break;
    for (std::size_t i = 0; i < n; ++i) {
      d.records.push_back(rec[i]);
      d.pixels.emplace_back(buf.begin() + std::ptrdiff_t(i * bytes), buf.begin() + std::ptrdiff_t((i + 1) * bytes));
    }
  }
  return d;
}

inline bool process_alive(pid_t pid) { return kill(pid, 0) == 0; }

// True once none of `pids` exists (they may take a moment to be reaped by init).
inline bool all_gone(const std::vector<pid_t>& pids, double within_s = 2.0) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(within_s);
  for (;;) {
    bool any = false;
    for (pid_t p : pids) any |= process_alive(p);
    if (!any) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline std::set<std::string> dev_shm() {
  std::set<std::string> s;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) s.insert(e.path().filename().string());
  return s;
}

// Halts the loader after `swaps` swaps of the default policy, so every SmallChunk produced
// is then delivered and the loader ends. Swaps are driven by count, not by time: it keeps the
// loaded patients until each has produced something in its visit, so every visit serves
// SmallChunks however loaded the machine is (swaps + loaded visits, all non-empty). Its random
// stream is keyed by the swaps made, so the decisions are the same on every run of a seed.
// While `armed` is false it swaps without counting (a test's first phase).
class HaltAfter : public Scheduler {
 public:
  explicit HaltAfter(int swaps, bool armed = true) : left_(swaps), armed(armed) {}
  SchedDecision schedule(const SchedulerView& dl, Rng&) override {
    const std::vector<PatientStats> patients = dl.patient_stats();
    for (const PatientStats& p : patients) {
      if (p.loaded && p.produced <= produced_at_load_[p.patient]) return SchedDecision::keep();
    }
    if (armed && left_-- <= 0) return SchedDecision::halt();
    Rng rng({dl.options().seed(), made_++, 0x4A17ULL});
    SchedDecision d = Scheduler::schedule(dl, rng);
    if (d.kind == SchedDecision::Kind::Swap) {
      decisions.push_back({d.remove, d.load});
      for (const PatientStats& p : patients)
        if (p.patient == d.load) produced_at_load_[p.patient] = p.produced;
    }
    return d;
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> decisions;

 private:
  int left_;
  std::uint64_t made_ = 0;
  std::map<std::int64_t, std::uint64_t> produced_at_load_;

 public:
  std::atomic<bool> armed;
};

}  // namespace pydmed::test
