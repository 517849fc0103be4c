#include "engine/batch_gatherer.hpp"

#include <algorithm>
#include <cstring>

namespace pydmed::detail {

void BatchGatherer::drain(std::size_t k) {
  Ring& ring = slots_[k]->ring;
  std::lock_guard<std::mutex> g(mu_);
  while (ring.available() > 0) {
    const std::uint8_t* s = ring.front();
    const SlotHeader& h = Ring::header(s);
    std::vector<std::uint8_t> bytes(sizeof(SlotHeader) + h.info_len + h.data_len);
    std::memcpy(bytes.data(), s, sizeof(SlotHeader));
    std::memcpy(bytes.data() + sizeof(SlotHeader), Ring::info(s), h.info_len);
    std::memcpy(bytes.data() + sizeof(SlotHeader) + h.info_len, ring.data(s), h.data_len);
    stored_.push_back(std::move(bytes));
    ring.pop();
  }
}

BatchGatherer::Taken BatchGatherer::take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records) {
  Taken t;
  auto emit = [&](const SlotHeader& h, const std::uint8_t* info, const std::uint8_t* data) {
    std::memcpy(out + t.n * patch_bytes_, data, std::min<std::size_t>(patch_bytes_, h.data_len));
    if (records) {
      ChunkRecord r;
      r.patient = h.patient;
      r.visit = h.visit;
      r.bigchunk_number = h.bigchunk_number;
      r.call_count = h.call_count;
      r.x = h.x, r.y = h.y, r.level = h.level;
      r.height = h.height, r.width = h.width, r.channels = h.channels;
      r.mpp = h.mpp;
      r.bigchunk = {h.bigchunk_x, h.bigchunk_y, h.bigchunk_level, h.bigchunk_width, h.bigchunk_height, 0.0};
      r.cut = h.cut;
      r.info_json.assign(reinterpret_cast<const char*>(info), h.info_len);
      records->push_back(std::move(r));
    }
    ++t.n;
  };
  // A report of a skipped region is set aside, not put in the batch.
  auto take_one = [&](const SlotHeader& h, const std::uint8_t* info, const std::uint8_t* data) {
    if (h.data_len > 0) {
      ++t.delivered[h.patient];
      return emit(h, info, data);
    }
    ++t.skipped[h.patient];
    SkippedRegion r{h.x, h.y, h.level, h.width, h.height, std::string(reinterpret_cast<const char*>(info), h.info_len)};
    skipped_.push_back({h.patient, h.visit, std::move(r)});
  };
  std::lock_guard<std::mutex> g(mu_);
  while (t.n < max && !stored_.empty()) {
    const std::uint8_t* b = stored_.front().data();
    const SlotHeader& h = *reinterpret_cast<const SlotHeader*>(b);
    take_one(h, b + sizeof(SlotHeader), b + sizeof(SlotHeader) + h.info_len);
    stored_.pop_front();
  }
  for (bool progress = true; t.n < max && progress;) {
    progress = false;
    for (std::size_t i = 0; i < slots_.size() && t.n < max; ++i) {
      Ring& ring = slots_[(next_ring_ + i) % slots_.size()]->ring;
      if (ring.available() == 0) continue;
      const std::uint8_t* s = ring.front();
      take_one(Ring::header(s), Ring::info(s), ring.data(s));
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
