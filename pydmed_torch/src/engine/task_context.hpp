#pragma once
// Private: what the engine hands to user code inside a child process.
#include <cstdint>
#include <optional>
#include <string>

#include "engine/shared_text.hpp"
#include "pydmed/engine/user_code.hpp"

namespace pydmed::detail {

// The engine's random streams, each keyed by the seed, its role and what it is for. The values
// are part of what a seed means: changing one changes every seeded run.
enum class StreamRole : std::uint64_t {
  kBigChunkLoader = 1,   // PatientTask::random_stream in a loader: {seed, patient, visit, bigchunk, call, role}
  kCollector = 2,        // ... in a collector
  kTransform = 3,        // Options::transform: {seed, patient, visit, bigchunk, call, role}
  kScheduler = 0x5C4ED,  // the scheduler's decisions: {seed, decision number, role}
};

struct TaskContext {
  const Patient* patient = nullptr;
  const Options* options = nullptr;
  std::uint32_t visit = 0;
  std::uint32_t bigchunk_number = 0;
  StreamRole role = StreamRole::kBigChunkLoader;  // loaders and collectors draw from different streams
  nlohmann::json checkpoint;
  SharedText* checkpoint_out = nullptr;  // collectors only
  // set_checkpoint() stages here; the engine commits it once the SmallChunk of the same call is
  // in the ring (or the call skipped or ended the BigChunk), so a checkpoint never claims a
  // SmallChunk that a swap-out dropped.
  std::optional<std::string> pending_checkpoint;
  void commit_checkpoint() {
    if (pending_checkpoint) checkpoint_out->write(*pending_checkpoint);
    pending_checkpoint.reset();
  }
  SharedText* status_out = nullptr;  // collectors only
  int log_fd = -1;
  std::uint8_t* bigchunk_memory = nullptr;  // loaders only
  std::size_t bigchunk_capacity = 0;
};

struct TaskAccess {
  static void attach(PatientTask& t, TaskContext* c) { t.ctx_ = c; }
};

// Appends one line to the log (one write(2) with O_APPEND: lines from many processes never mix).
void write_log_line(int fd, const std::string& who, const std::string& line);

}  // namespace pydmed::detail
