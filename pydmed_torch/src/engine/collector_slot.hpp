#pragma once
// Private: the shared memory of one collector slot (reused by each patient loaded there): its
// SmallChunk ring, its BigChunk buffer, and the texts the collector hands to the root.
#include <atomic>
#include <cstdint>
#include <memory>

#include "engine/futex.hpp"
#include "engine/ring.hpp"
#include "engine/shared_memory.hpp"
#include "engine/shared_text.hpp"
#include "pydmed/engine/options.hpp"

namespace pydmed::detail {

// BigChunk::damaged as it crosses from the loader to the collector. More pieces than fit are
// sent as one piece covering the whole BigChunk (none of it is served).
struct DamageMeta {
  static constexpr std::uint32_t kMaxPieces = 1024;
  static constexpr std::size_t kReasonBytes = 512;
  std::uint32_t count;
  std::int32_t pieces[kMaxPieces][4];  // x, y, width, height in BigChunk pixels
  char reason[kReasonBytes];           // the first piece's reason, NUL-terminated
};

struct BigChunkMeta {
  std::int64_t x, y;
  std::int32_t level, height, width, channels;
  double downsample;
  std::uint32_t info_len;
  DamageMeta damage;
};

struct SlotCounters {
  std::atomic<std::int32_t> loader_pid;        // the BigChunkLoader now running, 0: none
  std::atomic<std::uint64_t> bigchunks_loaded;
  std::atomic<std::uint64_t> bigchunk_read_ns;  // time from loader start to BigChunk ready
  std::atomic<std::uint64_t> bigchunks_failed;  // read, but every pixel damaged
  std::atomic<std::uint64_t> reports;           // ring slots that are SkippedRegion reports, not SmallChunks
};

// One BigChunk's memory: a loader writes it, the collector serves from it.
struct BigChunkArea {
  BigChunkMeta* meta;
  std::uint8_t* info;    // max_bigchunk_info_bytes
  std::uint8_t* pixels;  // max_bigchunk_bytes
};

// Two BigChunk areas when Options::prefetch_bigchunk: the next BigChunk is read while the
// current one is served.
class CollectorSlot {
 public:
  static std::size_t bytes_for(const Options& o) { return offsets(o).total; }
  CollectorSlot(std::uint8_t* at, const Options& o, Doorbell* bell) : CollectorSlot(at, o, bell, offsets(o)) {}

  Ring ring;
  SharedText checkpoint, status, error;
  SlotCounters* counters;
  BigChunkArea bigchunk[2];
  int bigchunk_areas;

 private:
  struct Offsets {
    std::size_t ring, checkpoint, status, error, counters, meta[2], info[2], pixels[2], total;
  };
  static Offsets offsets(const Options& o);
  CollectorSlot(std::uint8_t* at, const Options& o, Doorbell* bell, const Offsets& off);
};

}  // namespace pydmed::detail
