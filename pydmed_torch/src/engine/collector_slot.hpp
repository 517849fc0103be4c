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
#include "pydmed/error.hpp"

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

// Counts a slot's processes add to (they only grow); the root reads them as deltas of a visit.
struct SlotCounters {
  std::atomic<std::int32_t> loader_pid;  // the BigChunkLoader now running, 0: none
  std::atomic<std::uint64_t> bigchunks_loaded;
  std::atomic<std::uint64_t> bigchunk_read_ns;  // time from loader start to BigChunk ready
  std::atomic<std::uint64_t> bigchunks_failed;  // read, but every pixel damaged
  std::atomic<std::uint64_t> reports;           // ring slots that are SkippedRegion reports, not SmallChunks
};

// The growing counters at one moment: taken when a visit starts, subtracted when it is read.
struct CounterSnapshot {
  std::uint64_t bigchunks = 0, read_ns = 0, failed = 0, reports = 0;
  static CounterSnapshot of(const SlotCounters& c) {
    // reports first: see LightDLCore's SlotState::produced for why it is read before the ring.
    CounterSnapshot s;
    s.reports = c.reports.load();
    s.bigchunks = c.bigchunks_loaded.load();
    s.read_ns = c.bigchunk_read_ns.load();
    s.failed = c.bigchunks_failed.load();
    return s;
  }
  CounterSnapshot since(const CounterSnapshot& start) const {
    return {bigchunks - start.bigchunks, read_ns - start.read_ns, failed - start.failed, reports - start.reports};
  }
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
  // What one slot maps, by part (Options::memory_plan reports them): the ring; the BigChunk
  // areas with their meta and info; the texts and counters.
  struct Bytes {
    std::size_t ring = 0, bigchunks = 0, control = 0;
  };
  static Bytes bytes_by_part(const Options& o);
  static std::size_t bytes_for(const Options& o) { return offsets(o).total; }
  CollectorSlot(std::uint8_t* at, const Options& o, Doorbell* bell) : CollectorSlot(at, o, bell, offsets(o)) {}

  // A failed visit's text goes into `error`; one that starts with kRetryCannotFix reports an
  // error that retrying cannot fix (pydmed::Deterministic), and the patient is set aside at once.
  static constexpr char kRetryCannotFix = '\x1e';
  // Writes it (cut to what the slot holds: a long message loses its end, not itself).
  void report_failure(const std::exception& e, const std::string& text) {
    const std::string marked = is_deterministic(e) ? kRetryCannotFix + text : text;
    error.write(marked.substr(0, error.capacity()));
  }

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
