#pragma once
// PyDmed's const_global_info, as an options struct with the same defaults, plus what a C++
// process tree needs to know up front (patch shape, buffer sizes, timeouts, memory budget).
#include <cstdint>
#include <string>
#include <vector>

#include "pydmed/arg.hpp"
#include "pydmed/engine/transforms.hpp"

namespace pydmed {

// CPU cores (as numbered by the OS) for each part of the tree; empty: no pinning.
struct CoreAssignment {
  std::vector<int> lightdl;               // the root's scheduler thread
  std::vector<int> smallchunkcollectors;  // collector processes
  std::vector<int> bigchunkloaders;       // loader processes
};

struct PatchShape {
  int height = 224, width = 224, channels = 3;
  std::size_t bytes() const { return std::size_t(height) * std::size_t(width) * std::size_t(channels); }
};

// What the options imply in shared and root memory, computed before anything is mapped.
struct MemoryPlan {
  std::size_t rings = 0;       // SmallChunk rings, all collectors
  std::size_t bigchunks = 0;   // BigChunk buffers, all collectors, with their loaders' scratch
  std::size_t control = 0;     // checkpoints, statuses, errors
  std::size_t root_queue = 0;  // the most the root holds of swapped-out patients' SmallChunks
  std::size_t slides = 0;      // what the loaders' open slides hold (Slide::resident_bytes_estimate)
  std::size_t total() const { return rings + bigchunks + control + root_queue + slides; }
  std::size_t budget = 0;
};

struct Options {
  Options() {}
  // How many patients are loaded at once: one SmallChunkCollector (and its BigChunkLoader) each.
  PYDMED_ARG(int, num_bigchunkloaders) = 10;
  // Slots in each collector's ring.
  PYDMED_ARG(int, maxlength_queue_smallchunk) = 100;
  // PyDmed's root queue. Here the root keeps only what the rings of ended visits still held, at
  // most one ring per collector (swaps wait until the last swap's are handed out), and drops
  // none: the memory plan counts min(this, collectors x maxlength_queue_smallchunk) SmallChunks
  // for it. Must hold a batch and a ring.
  PYDMED_ARG(int, maxlength_queue_lightdl) = 10000;
  // Seconds between swaps of a loaded patient for a waiting one.
  PYDMED_ARG(double, interval_resched) = 10.0;
  PYDMED_ARG(CoreAssignment, core_assignment) = {};
  // Added to the collectors' and loaders' nice value, so the training loop never starves.
  PYDMED_ARG(int, collector_nice) = 5;
  // Fixes every scheduling decision and every random position.
  PYDMED_ARG(std::uint64_t, seed) = 0;
  // The batch size the consumer will ask for; queues must hold at least one batch.
  PYDMED_ARG(int, batch_size) = 64;
  PYDMED_ARG(PatchShape, patch_shape) = {};
  // The largest BigChunk, in bytes (default: 2048 x 2048 RGB).
  PYDMED_ARG(std::size_t, max_bigchunk_bytes) = std::size_t{2048} * 2048 * 3;
  // What a BigChunkLoader process holds beside its BigChunk areas while it makes a BigChunk (the
  // read before a resample: RandomBigChunkOptions::scratch_bytes()); counted in the memory plan.
  PYDMED_ARG(std::size_t, loader_scratch_bytes) = 0;
  PYDMED_ARG(std::size_t, max_smallchunk_info_bytes) = 1024;  // a SmallChunk's info, as JSON
  PYDMED_ARG(std::size_t, max_bigchunk_info_bytes) = 16384;
  PYDMED_ARG(std::size_t, max_checkpoint_bytes) = 65536;
  PYDMED_ARG(std::size_t, max_status_bytes) = 4096;
  // Read the next BigChunk while the current one is served (twice the BigChunk memory).
  PYDMED_ARG(bool, prefetch_bigchunk) = true;
  // Threads that decode one BigChunk's tiles in its loader process (the tile reader's slides
  // only; 1: off). Worth it where cores outnumber the loaded patients' collectors.
  PYDMED_ARG(int, decode_threads) = 1;
  // A BigChunkLoader that takes longer is killed and its patient gets an error.
  PYDMED_ARG(double, bigchunk_timeout) = 60.0;
  // A patient whose collector or loader fails this many times is set aside.
  PYDMED_ARG(int, max_failures) = 3;
  // Bytes the loader may use; 0: half of the machine's physical memory.
  PYDMED_ARG(std::size_t, memory_budget_bytes) = 0;
  // Where log() lines, errors and swaps go; empty: nowhere.
  PYDMED_ARG(std::string, log_file) = "";
  // Applied to every SmallChunk inside its collector; must give Options::patch_shape.
  PYDMED_ARG(PatchTransform, transform) = nullptr;
  // Data-parallel training: this process loads only its share of the patients (those at
  // positions rank, rank + world_size, ... of the dataset sorted by id, grouped by label when
  // every patient has the same one label: Dataset::shard), like DistributedSampler.
  // DistributedEnv::from_env() reads them as torchrun sets them.
  PYDMED_ARG(int, rank) = 0;
  PYDMED_ARG(int, world_size) = 1;

 public:
  // Throws OptionsError naming the first option that cannot work.
  void validate() const;
  // What these options imply, with `slide_bytes` for the slides the loaders hold open (the
  // loader counts its dataset's); throws OptionsError when over the budget.
  MemoryPlan memory_plan(std::size_t slide_bytes = 0) const;
};

}  // namespace pydmed
