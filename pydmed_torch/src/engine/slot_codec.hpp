#pragma once
// Private: the ring slot's protocol, written and read here only. A collector pushes either a
// SmallChunk (its pixels and record) or a report of a region it skipped; the root decodes each
// slot to one of the two. The fixed part travels as a SlotHeader (plain data, copied between
// processes) in the slot's header area; the chunk's info JSON or the report's reason follow in
// the info area, the pixels in the data area.
#include <csignal>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "engine/ring.hpp"
#include "pydmed/engine/chunks.hpp"
#include "pydmed/engine/options.hpp"
#include "pydmed/engine/records.hpp"

namespace pydmed::detail {

// Where a slot's content came from: the visit, the BigChunk and the collector's call.
struct SlotOrigin {
  std::int64_t patient = 0;
  std::uint32_t visit = 0, bigchunk_number = 0;
  std::uint64_t call = 0;
  const BigChunk* bigchunk = nullptr;  // its region and size as held
};

// Producer (a collector process). Each waits for a free slot (false: *stop was set first),
// writes it whole and publishes it. `info` and `reason` fit the ring's info area (the caller
// cuts or refuses them).
bool push_chunk(Ring& ring, const volatile std::sig_atomic_t* stop, const SlotOrigin& origin, const SmallChunk& chunk,
                const PatchShape& shape, const std::string& info);
bool push_report(Ring& ring, const volatile std::sig_atomic_t* stop, const SlotOrigin& origin,
                 const SkippedRegion& region);

// Consumer (the root). A slot decoded: a SmallChunk's record and pixels (pixels point into the
// slot or its stored copy), or a skipped region's report.
struct DecodedChunk {
  ChunkRecord record;  // info_json filled only when asked for (with_record)
  const std::uint8_t* pixels = nullptr;
  std::size_t bytes = 0;
};
using DecodedSlot = std::variant<DecodedChunk, SkippedReport>;
DecodedSlot decode_slot(const Ring& ring, const std::uint8_t* slot, bool with_record);
// A slot copied out of its ring (a visit that ended: its ring is reused) and decoded from there.
std::vector<std::uint8_t> copy_slot(const Ring& ring, const std::uint8_t* slot);
DecodedSlot decode_copy(const std::vector<std::uint8_t>& copy, bool with_record);

}  // namespace pydmed::detail
