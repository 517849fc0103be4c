#pragma once
// PyDmed's LightDL without LibTorch: the process tree, the rings, the scheduler thread, and
// batches gathered straight from ring slots into the caller's memory. The LibTorch face
// (pydmed/torch/) wraps it; tools and tests use it directly.
#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/options.hpp"
#include "pydmed/engine/random_chunks.hpp"
#include "pydmed/engine/scheduler.hpp"
#include "pydmed/engine/user_code.hpp"

namespace pydmed {

namespace detail {
class SharedMemory;
class CollectorSlot;
struct Doorbell;
}  // namespace detail

// One SmallChunk of a batch: where it came from. Its pixels are in the batch buffer.
struct ChunkRecord {
  std::int64_t patient = 0;
  std::uint32_t visit = 0;
  std::uint32_t bigchunk_number = 0;
  std::uint64_t call_count = 0;
  std::int64_t x = 0, y = 0;  // level-0 pixels
  int level = 0;
  // The region of `level` it covers (the patch's own size unless resampled), and the patch's
  // microns per pixel when read at a physical resolution (0: not resampled).
  int height = 0, width = 0, channels = 0;
  double mpp = 0;
  RegionInfo bigchunk;         // the BigChunk it was cut from (downsample not carried: 0)
  std::string info_json;       // the SmallChunk's info, "" when none
};

struct PatientError {
  std::int64_t patient = 0;
  std::uint32_t visit = 0;
  std::string message;
  double time_s = 0;  // seconds since the loader started
};

// A region a collector reported it could not serve (Extraction::skip(SkippedRegion)), with
// where it came from: a window over a damaged tile, say.
struct SkippedReport {
  std::int64_t patient = 0;
  std::uint32_t visit = 0;
  SkippedRegion region;
};

struct PatientStats {
  std::int64_t patient = 0;
  std::uint32_t visits = 0;
  std::uint64_t produced = 0, delivered = 0;  // SmallChunks (reports of skipped regions not counted)
  std::uint64_t skipped = 0;                  // reports of skipped regions taken by the consumer
  std::uint64_t bigchunks = 0;
  double bigchunk_read_s = 0;
  std::uint32_t failures = 0;
  bool loaded = false, finished = false, set_aside = false;
};

struct LoaderStats {
  std::vector<PatientStats> patients;
  std::uint64_t swaps = 0, errors = 0;
  std::uint64_t produced = 0, delivered = 0, bigchunks = 0;
  double bigchunk_read_s = 0;
  double consumer_wait_s = 0;  // time callers of next_batch spent waiting: the GPU-starved time
  // SmallChunks in the rings now, their slots, and what the root holds of ended visits' rings.
  std::size_t ring_fill = 0, ring_capacity = 0, root_queue = 0;
  double uptime_s = 0;
  // CPU seconds used by the tree: collectors and loaders (live and ended) and the scheduler thread.
  double tree_cpu_s = 0;
  double children_cpu_s = 0;  // the same, without the scheduler thread (which is in the root's own usage)
};

class LightDLCore {
 public:
  // Validates the options and admits their memory (OptionsError otherwise); refuses a dataset
  // (or this rank's share of it) without patients (DatasetError); maps the shared memory.
  // Starts nothing until start() or the first next_batch().
  LightDLCore(Dataset dataset, LoaderFactory make_loader, CollectorFactory make_collector,
              Options options = {}, std::shared_ptr<Scheduler> scheduler = nullptr);
  ~LightDLCore();  // stop()
  LightDLCore(const LightDLCore&) = delete;
  LightDLCore& operator=(const LightDLCore&) = delete;

  void start();
  // Ends and reaps every child (SIGTERM, then SIGKILL after a grace period), within a second.
  void stop();

  // Up to `max` SmallChunks: pixels to `out` (each Options::patch_shape, HWC, one after
  // another), records to `records` (cleared first). Blocks until `max` are ready or the loader
  // has finished; returns how many (0: finished, nothing left). Thread-safe.
  std::size_t next_batch(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records);
  // Same, with a limit on the wait: returns what it has after timeout_s (maybe 0).
  std::size_t next_batch_for(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records, double timeout_s);
  bool finished() const;  // nothing more will ever come

  // The latest message reaches the patient's next loader and collector.
  void send_message(std::int64_t patient, const nlohmann::json& message);
  nlohmann::json get_checkpoint(std::int64_t patient) const;
  nlohmann::json get_status(std::int64_t patient) const;  // live while loaded
  std::vector<PatientError> errors() const;
  // Every region reported skipped so far, in the order the consumer met them (reports travel
  // with the SmallChunks, so they arrive exactly once, also across swaps).
  std::vector<SkippedReport> skipped() const;
  void log(const std::string& line) const;

  // For schedulers.
  const Dataset& dataset() const { return dataset_; }
  const Options& options() const { return options_; }
  std::vector<std::int64_t> loaded_patients() const;
  std::vector<std::int64_t> waiting_patients() const;  // loadable: not loaded, finished or set aside
  std::uint32_t schedcount(std::int64_t patient) const;

  const MemoryPlan& memory_plan() const { return plan_; }
  LoaderStats stats() const;
  // Process ids of the running collectors and loaders (for supervision tests and tools).
  std::vector<pid_t> collector_pids() const;
  std::vector<pid_t> loader_pids() const;

 private:
  struct PatientState;
  struct SlotState;
  struct Stored;

  void scheduler_main();
  bool start_visit(std::size_t slot, std::int64_t patient);  // false: no process (recorded)
  void end_visit(std::size_t slot, int status, bool requested, const rusage& usage);
  void drain_ring(std::size_t slot);
  void fill_free_slots();
  void do_swap();
  void stop_slots();
  void wake_scheduler();
  void record_error(std::int64_t patient, std::uint32_t visit, const std::string& message);
  // An error that counts against the patient; sets it aside after Options::max_failures (mu_ held).
  void record_failure(PatientState& ps, std::int64_t patient, std::uint32_t visit, const std::string& message);
  Rng decision_rng();
  double now_s() const;
  std::size_t take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records);
  nlohmann::json live_or_kept(std::int64_t patient, const char* what, bool checkpoint) const;

  Dataset dataset_;
  LoaderFactory make_loader_;
  CollectorFactory make_collector_;
  Options options_;
  std::shared_ptr<Scheduler> scheduler_;
  MemoryPlan plan_;

  std::unique_ptr<detail::SharedMemory> shm_;
  detail::Doorbell* bell_ = nullptr;
  std::vector<std::unique_ptr<detail::CollectorSlot>> slots_;
  int log_fd_ = -1;
  int wake_fd_ = -1;

  mutable std::mutex mu_;  // patients_, slot_state_, errors_, counters
  std::map<std::int64_t, std::unique_ptr<PatientState>> patients_;
  std::vector<std::unique_ptr<SlotState>> slot_state_;
  std::vector<PatientError> errors_;
  std::uint64_t swaps_ = 0, decisions_ = 0;
  double consumer_wait_s_ = 0;
  double ended_cpu_s_ = 0;

  mutable std::mutex consume_mu_;  // the consumer side of the rings, stored_ and skipped_
  std::deque<Stored> stored_;
  std::vector<SkippedReport> skipped_;
  std::size_t next_ring_ = 0;

  std::atomic<bool> started_{false}, stopping_{false}, finished_{false}, halted_{false};
  std::atomic<bool> swap_pending_{false};
  std::atomic<std::uint64_t> delivered_total_{0};
  std::uint64_t delivered_at_last_swap_ = 0;  // scheduler thread only
  std::atomic<double> last_request_s_{0};      // when next_batch was last called
  std::atomic<double> scheduler_cpu_s_{0};  // the scheduler thread's CPU, as of its last wake
  std::thread thread_;
  std::mutex start_mu_;
  const std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// The ready-made loader and collector, as factories.
LoaderFactory random_bigchunk_loader(const RandomBigChunkOptions& options = {});
CollectorFactory random_smallchunk_collector(const RandomSmallChunkOptions& options = {});

}  // namespace pydmed
