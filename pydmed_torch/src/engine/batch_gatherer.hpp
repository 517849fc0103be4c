#pragma once
// Private: the consumer side of the rings. Batches are gathered one SmallChunk from each ring
// in turn (so a batch mixes the loaded patients), after what the root moved out of the rings
// of visits that ended; reports of skipped regions are set aside, not batched.
//
// Threads: mu_ guards stored_, skipped_, next_ring_ and the rings' consumer end: holding it is
// what makes each ring's consumer single (the scheduler thread draining an ended visit's ring,
// and callers of next_batch taking from all of them).
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/collector_slot.hpp"
#include "pydmed/engine/light_dl_core.hpp"

namespace pydmed::detail {

class BatchGatherer {
 public:
  BatchGatherer(const std::vector<std::unique_ptr<CollectorSlot>>& slots, std::size_t patch_bytes)
      : slots_(slots), patch_bytes_(patch_bytes) {}

  // Moves what slot k's ring holds to the root (its visit ended: nothing produced is lost).
  void drain(std::size_t slot);

  struct Taken {
    std::size_t n = 0;
    std::map<std::int64_t, std::uint64_t> delivered, skipped;  // per patient
    std::int64_t last_patient = -1;                            // of the last SmallChunk taken
  };
  // Up to `max` SmallChunks into `out` (patch_bytes each) and their records (appended).
  Taken take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records);

  std::size_t stored() const;  // SmallChunks held by the root
  std::vector<SkippedReport> skipped() const;

 private:
  const std::vector<std::unique_ptr<CollectorSlot>>& slots_;
  const std::size_t patch_bytes_;
  mutable std::mutex mu_;
  std::deque<std::vector<std::uint8_t>> stored_;  // each: header, info, pixels
  std::vector<SkippedReport> skipped_;
  std::size_t next_ring_ = 0;
};

}  // namespace pydmed::detail
