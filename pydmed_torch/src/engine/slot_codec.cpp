#include "engine/slot_codec.hpp"

#include <cstring>
#include <type_traits>

namespace pydmed::detail {

namespace {

enum class SlotKind : std::uint32_t { kChunk = 1, kReport = 2 };

// The fixed part of a slot, so the root needs no parsing to build a batch.
struct SlotHeader {  // eight-byte fields first: no padding, 128 bytes
  std::int64_t patient;
  std::uint64_t call_count;
  std::int64_t x, y;  // level-0 pixels: the patch's, or the skipped region's
  std::int64_t bigchunk_x, bigchunk_y;
  std::uint64_t data_len;  // bytes of pixels (0 for a report)
  double mpp;              // microns per pixel of the patch; 0: not resampled
  SlotKind kind;
  std::uint32_t visit;
  std::uint32_t bigchunk_number;
  std::uint32_t info_len;  // bytes in the info area: a chunk's JSON (0: none), a report's reason
  std::int32_t level;
  std::int32_t height, width, channels;  // a report: the region's size in pixels of the level
  std::int32_t bigchunk_level;
  std::int32_t bigchunk_height, bigchunk_width;
  PatchCut cut;  // how it was cut (SmallChunk::cut)
};
// Written by one process and read by another with plain copies.
static_assert(std::is_trivially_copyable_v<SlotHeader> && std::is_standard_layout_v<SlotHeader>);
static_assert(sizeof(SlotHeader) <= kSlotHeaderBytes, "the ring's header area holds the SlotHeader");

SlotHeader header_of(SlotKind kind, const SlotOrigin& o) {
  SlotHeader h{};
  h.kind = kind;
  h.patient = o.patient;
  h.visit = o.visit;
  h.bigchunk_number = o.bigchunk_number;
  h.call_count = o.call;
  h.bigchunk_x = o.bigchunk->region.x;
  h.bigchunk_y = o.bigchunk->region.y;
  h.bigchunk_level = o.bigchunk->region.level;
  h.bigchunk_height = o.bigchunk->data.rows;
  h.bigchunk_width = o.bigchunk->data.cols;
  return h;
}

void write(std::uint8_t* slot, const SlotHeader& h, const std::string& info) {
  std::memcpy(slot, &h, sizeof h);
  std::memcpy(Ring::info(slot), info.data(), info.size());
}

DecodedSlot decode(const SlotHeader& h, const std::uint8_t* info, const std::uint8_t* data, bool with_record) {
  const std::string text(reinterpret_cast<const char*>(info), with_record || h.kind == SlotKind::kReport ? h.info_len : 0);
  if (h.kind == SlotKind::kReport) return SkippedReport{h.patient, h.visit, {h.x, h.y, h.level, h.width, h.height, text}};
  DecodedChunk c;
  ChunkRecord& r = c.record;
  r.patient = h.patient;
  r.visit = h.visit;
  r.bigchunk_number = h.bigchunk_number;
  r.call_count = h.call_count;
  r.x = h.x, r.y = h.y, r.level = h.level;
  r.height = h.height, r.width = h.width, r.channels = h.channels;
  r.mpp = h.mpp;
  r.bigchunk = {h.bigchunk_x, h.bigchunk_y, h.bigchunk_level, h.bigchunk_width, h.bigchunk_height, 0.0};
  r.cut = h.cut;
  r.info_json = text;
  c.pixels = data;
  c.bytes = h.data_len;
  return c;
}

SlotHeader read_header(const std::uint8_t* at) {
  SlotHeader h;
  std::memcpy(&h, at, sizeof h);
  return h;
}

}  // namespace

bool push_chunk(Ring& ring, const volatile std::sig_atomic_t* stop, const SlotOrigin& origin, const SmallChunk& c,
                const PatchShape& shape, const std::string& info) {
  std::uint8_t* s = ring.wait_for_free_slot(stop);
  if (!s) return false;
  SlotHeader h = header_of(SlotKind::kChunk, origin);
  h.x = c.x, h.y = c.y, h.level = c.level;
  h.height = c.height > 0 ? c.height : shape.height;
  h.width = c.width > 0 ? c.width : shape.width;
  h.channels = shape.channels;
  h.info_len = std::uint32_t(info.size());
  h.data_len = shape.bytes();
  h.mpp = c.mpp;
  h.cut = c.cut;
  write(s, h, info);
  cv::Mat dst(shape.height, shape.width, CV_8UC(shape.channels), ring.data(s));
  c.data.copyTo(dst);
  ring.publish();
  return true;
}

bool push_report(Ring& ring, const volatile std::sig_atomic_t* stop, const SlotOrigin& origin,
                 const SkippedRegion& r) {
  std::uint8_t* s = ring.wait_for_free_slot(stop);
  if (!s) return false;
  SlotHeader h = header_of(SlotKind::kReport, origin);
  h.x = r.x, h.y = r.y, h.level = r.level, h.height = r.height, h.width = r.width;
  h.info_len = std::uint32_t(r.reason.size());
  write(s, h, r.reason);
  ring.publish();
  return true;
}

DecodedSlot decode_slot(const Ring& ring, const std::uint8_t* slot, bool with_record) {
  return decode(read_header(slot), Ring::info(slot), ring.data(slot), with_record);
}

std::vector<std::uint8_t> copy_slot(const Ring& ring, const std::uint8_t* slot) {
  const SlotHeader h = read_header(slot);
  std::vector<std::uint8_t> bytes(sizeof h + h.info_len + h.data_len);
  std::memcpy(bytes.data(), &h, sizeof h);
  std::memcpy(bytes.data() + sizeof h, Ring::info(slot), h.info_len);
  std::memcpy(bytes.data() + sizeof h + h.info_len, ring.data(slot), h.data_len);
  return bytes;
}

DecodedSlot decode_copy(const std::vector<std::uint8_t>& copy, bool with_record) {
  const SlotHeader h = read_header(copy.data());
  const std::uint8_t* info = copy.data() + sizeof h;
  return decode(h, info, info + h.info_len, with_record);
}

}  // namespace pydmed::detail
