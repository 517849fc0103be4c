#pragma once
// PyDmed's LightDL without LibTorch: the process tree, the rings, the scheduler thread, and
// batches gathered straight from ring slots into the caller's memory. The LibTorch face
// (pydmed/torch/) wraps it; tools and tests use it directly.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/loader_state.hpp"
#include "pydmed/engine/options.hpp"
#include "pydmed/engine/random_chunks.hpp"
#include "pydmed/engine/scheduler.hpp"
#include "pydmed/engine/user_code.hpp"

namespace pydmed {

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
  RegionInfo bigchunk;    // the BigChunk it was cut from, its size as held (downsample not carried: 0)
  PatchCut cut;           // how the patch was cut from it (SmallChunk::cut)
  std::string info_json;  // the SmallChunk's info, "" when none
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

// The loader: its public face. The parts behind it (src/engine/): the PatientRegistry (what the
// root knows of each patient), the CollectorPool (the scheduler thread's processes), the
// BatchGatherer (the consumer side of the rings) and the core that ties them.
class LightDLCore {
 public:
  // Validates the options and admits their memory (OptionsError otherwise); refuses a dataset
  // (or this rank's share of it) without patients (DatasetError); maps the shared memory.
  // Starts nothing until start() or the first next_batch().
  LightDLCore(Dataset dataset, LoaderFactory make_loader, CollectorFactory make_collector, Options options = {},
              std::shared_ptr<Scheduler> scheduler = nullptr);
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

  const Dataset& dataset() const;  // this rank's share
  const Options& options() const;
  // What the scheduler sees (the same queries, from any thread).
  const SchedulerView& view() const;
  std::vector<std::int64_t> loaded_patients() const;
  std::vector<std::int64_t> waiting_patients() const;  // loadable: not loaded, finished or set aside
  std::uint32_t schedcount(std::int64_t patient) const;

  // Resumable state, JSON: swaps, the scheduler's decision count and its own state
  // (Scheduler::state), and per patient its visits, failures, finished/set aside, checkpoint
  // and status (live ones for loaded patients). Save it beside the model's checkpoint. A loader
  // made again with the same dataset and options and given it by restore() before it starts
  // goes on from there: visit numbers continue, so no (patient, visit) stream of SmallChunks is
  // served twice, and each patient's collector starts from its checkpoint.
  // The typed state (pydmed/engine/loader_state.hpp) and its JSON (LoaderState::to_json).
  LoaderState loader_state() const;
  nlohmann::json state() const;
  void restore(const LoaderState& state);     // Error: started already
  void restore(const nlohmann::json& state);  // Error: started already, or not such a state

  const MemoryPlan& memory_plan() const;
  LoaderStats stats() const;
  // Process ids of the running collectors and loaders (for supervision tests and tools).
  std::vector<int> collector_pids() const;
  std::vector<int> loader_pids() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The ready-made loader and collector, as factories.
LoaderFactory random_bigchunk_loader(const RandomBigChunkOptions& options = {});
CollectorFactory random_smallchunk_collector(const RandomSmallChunkOptions& options = {});

}  // namespace pydmed
