#include "batch_buffers.hpp"

#include <torch/torch.h>

namespace pydmed {

BatchBuffers::BatchBuffers(std::vector<std::int64_t> item_shape, bool pinned, std::size_t capacity)
    : item_shape_(std::move(item_shape)), pinned_(pinned), capacity_(std::max<std::size_t>(1, capacity)) {}

torch::Tensor BatchBuffers::allocate(std::int64_t rows) {
  std::vector<std::int64_t> shape{rows};
  shape.insert(shape.end(), item_shape_.begin(), item_shape_.end());
  ++allocations_;
  return torch::empty(shape, torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(pinned_));
}

bool BatchBuffers::idle(Entry& e) const {
  // use_count counts the views handed out (a view holds the storage, not the tensor). Storage
  // references are atomic: one seen as 1 under mu_ stays 1, as only acquire hands out new ones.
  if (e.buffer.storage().use_count() != 1) return false;
  if (e.copy_done && !e.copy_done->query()) return false;
  e.copy_done.reset();
  return true;
}

torch::Tensor BatchBuffers::acquire(std::int64_t rows, const std::function<void()>& wait_for_copies) {
  std::lock_guard<std::mutex> g(mu_);
  Entry* reuse = nullptr;
  for (Entry& e : entries_) {
    if (!idle(e)) continue;
    if (e.buffer.size(0) >= rows) return e.buffer.narrow(0, 0, rows);
    reuse = &e;  // idle but too small: replaced below
  }
  if (!reuse && entries_.size() < capacity_) reuse = &entries_.emplace_back();
  if (!reuse && wait_for_copies) {
    // Busy only because of copies in flight? Then wait for them rather than allocate.
    bool only_copies = false;
    for (const Entry& e : entries_) only_copies |= e.buffer.storage().use_count() == 1 && e.copy_done;
    if (only_copies) {
      wait_for_copies();
      for (Entry& e : entries_) {
        e.copy_done.reset();  // every copy enqueued so far has completed
        if (e.buffer.storage().use_count() == 1 && e.buffer.size(0) >= rows) return e.buffer.narrow(0, 0, rows);
        if (e.buffer.storage().use_count() == 1) reuse = &e;
      }
    }
  }
  // Everything is held by the caller's batches: forget the oldest (its holders keep it alive).
  if (!reuse) reuse = &entries_.front();
  reuse->buffer = allocate(rows);
  reuse->copy_done.reset();
  return reuse->buffer.narrow(0, 0, rows);
}

void BatchBuffers::copy_enqueued(const torch::Tensor& buffer, c10::Event done) {
  std::lock_guard<std::mutex> g(mu_);
  for (Entry& e : entries_) {
    if (e.buffer.storage().unsafeGetStorageImpl() == buffer.storage().unsafeGetStorageImpl()) {
      e.copy_done = std::make_unique<c10::Event>(std::move(done));
      return;
    }
  }
}

std::size_t BatchBuffers::allocations() const {
  std::lock_guard<std::mutex> g(mu_);
  return allocations_;
}

}  // namespace pydmed
