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
#include "pydmed/engine/records.hpp"
#include "pydmed/engine/random_chunks.hpp"
#include "pydmed/engine/scheduler.hpp"
#include "pydmed/engine/user_code.hpp"
#include "pydmed/progress_meter.hpp"

namespace pydmed {

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
  // Where the run is, to draw a progress display: slides finished (every SmallChunk they made
  // delivered) of the dataset, SmallChunks delivered, their rate, the time since start, the time
  // left where patients finish (sliding windows) and the slide of the last SmallChunk. Polled,
  // from any thread.
  RunProgress progress() const;
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
