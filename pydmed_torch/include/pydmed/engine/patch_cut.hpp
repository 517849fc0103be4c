#pragma once
// PatchCut: what a SmallChunk carries from its collector to the root (through the ring's slot
// header, so plain data) about where in its BigChunk it was cut.
#include <cstdint>

namespace pydmed {

// How a patch came from its BigChunk, for a check from outside (pydmed stream's TSV): the
// BigChunk is `read_width` x `read_height` pixels of its level, read at its position and held
// either resampled once to the size it has (kBigChunk; at a native level that size is the
// read's) or as read, each patch resized alone (kPatch); `x`, `y` is the patch's top-left in
// the BigChunk as held. kNone: a collector that does not say.
struct PatchCut {
  enum class Resample : std::int32_t { kNone, kBigChunk, kPatch };
  Resample resample = Resample::kNone;
  std::int32_t read_width = 0, read_height = 0, x = 0, y = 0;
};

}  // namespace pydmed
