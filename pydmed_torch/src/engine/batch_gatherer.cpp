#include "engine/batch_gatherer.hpp"

#include "engine/slot_codec.hpp"

#include <algorithm>
#include <cstring>

namespace pydmed::detail {

void BatchGatherer::drain(std::size_t k) {
  Ring& ring = slots_[k]->ring;
  std::lock_guard<std::mutex> g(mu_);
  while (ring.available() > 0) {
    stored_.push_back(copy_slot(ring, ring.front()));
    ring.pop();
  }
}

BatchGatherer::Taken BatchGatherer::take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records) {
  Taken t;
  // A SmallChunk into the batch; a report of a skipped region set aside, not put in the batch.
  auto take_one = [&](DecodedSlot slot) {
    if (auto* report = std::get_if<SkippedReport>(&slot)) {
      ++t.skipped[report->patient];
      skipped_.push_back(std::move(*report));
      return;
    }
    DecodedChunk& c = std::get<DecodedChunk>(slot);
    ++t.delivered[c.record.patient];
    t.last_patient = c.record.patient;
    std::memcpy(out + t.n * patch_bytes_, c.pixels, std::min(patch_bytes_, c.bytes));
    if (records) records->push_back(std::move(c.record));
    ++t.n;
  };
  std::lock_guard<std::mutex> g(mu_);
  while (t.n < max && !stored_.empty()) {
    take_one(decode_copy(stored_.front(), records != nullptr));
    stored_.pop_front();
  }
  for (bool progress = true; t.n < max && progress;) {
    progress = false;
    for (std::size_t i = 0; i < slots_.size() && t.n < max; ++i) {
      Ring& ring = slots_[(next_ring_ + i) % slots_.size()]->ring;
      if (ring.available() == 0) continue;
      const std::uint8_t* s = ring.front();
      take_one(decode_slot(ring, s, records != nullptr));
      ring.pop();
      progress = true;
    }
    next_ring_ = (next_ring_ + 1) % slots_.size();
  }
  return t;
}

std::size_t BatchGatherer::stored() const {
  std::lock_guard<std::mutex> g(mu_);
  return stored_.size();
}

std::vector<SkippedReport> BatchGatherer::skipped() const {
  std::lock_guard<std::mutex> g(mu_);
  return skipped_;
}

}  // namespace pydmed::detail
