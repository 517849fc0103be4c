#pragma once
// What the loader hands out besides pixels: each SmallChunk's record, the errors, the skipped
// regions and the counts. Plain data, shared by the facade (LightDLCore) and its private parts.
#include <cstdint>
#include <string>
#include <vector>

#include "pydmed/engine/chunks.hpp"
#include "pydmed/engine/patch_cut.hpp"
#include "pydmed/engine/scheduler.hpp"
#include "pydmed/slide/region.hpp"

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

  // The annotation class it lies in (its info's "roi", set inside annotations), "" when none.
  std::string roi() const;
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

}  // namespace pydmed
