#include "engine/collector_slot.hpp"

namespace pydmed::detail {

namespace {
constexpr std::size_t kErrorBytes = 4096;

}  // namespace

CollectorSlot::Offsets CollectorSlot::offsets(const Options& o) {
  Offsets f{};
  std::size_t at = 0;
  auto take = [&](std::size_t n) {
    const std::size_t here = at;
    at += align64(n);
    return here;
  };
  f.ring = take(Ring::bytes_for(std::uint32_t(o.maxlength_queue_smallchunk()), o.max_smallchunk_info_bytes(),
                                o.patch_shape().bytes()));
  f.checkpoint = take(SharedText::bytes_for(o.max_checkpoint_bytes()));
  f.status = take(SharedText::bytes_for(o.max_status_bytes()));
  f.error = take(SharedText::bytes_for(kErrorBytes));
  f.counters = take(sizeof(SlotCounters));
  for (int b = 0; b < (o.prefetch_bigchunk() ? 2 : 1); ++b) {
    f.meta[b] = take(sizeof(BigChunkMeta));
    f.info[b] = take(o.max_bigchunk_info_bytes());
    f.pixels[b] = take(o.max_bigchunk_bytes());
  }
  f.total = at;
  return f;
}

CollectorSlot::Bytes CollectorSlot::bytes_by_part(const Options& o) {
  const Offsets f = offsets(o);
  Bytes b;
  b.ring = f.checkpoint - f.ring;
  b.control = f.meta[0] - f.checkpoint;  // checkpoint, status, error, counters
  b.bigchunks = f.total - f.meta[0];
  return b;
}

CollectorSlot::CollectorSlot(std::uint8_t* at, const Options& o, Doorbell* bell, const Offsets& f)
    : ring(at + f.ring, std::uint32_t(o.maxlength_queue_smallchunk()), o.max_smallchunk_info_bytes(),
           o.patch_shape().bytes(), bell),
      checkpoint(at + f.checkpoint, o.max_checkpoint_bytes()),
      status(at + f.status, o.max_status_bytes()),
      error(at + f.error, kErrorBytes),
      counters(reinterpret_cast<SlotCounters*>(at + f.counters)),
      bigchunk{},
      bigchunk_areas(o.prefetch_bigchunk() ? 2 : 1) {
  for (int b = 0; b < bigchunk_areas; ++b) {
    bigchunk[b] = {reinterpret_cast<BigChunkMeta*>(at + f.meta[b]), at + f.info[b], at + f.pixels[b]};
  }
}

}  // namespace pydmed::detail
