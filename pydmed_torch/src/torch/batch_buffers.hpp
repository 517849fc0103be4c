#pragma once
// Host buffers that batches are gathered into, reused instead of allocated per batch (a pinned
// one costs a page-locking call each time, and a pageable one page faults on first touch).
//
// A buffer is handed out again only when nothing outside the pool holds its storage (a training
// loop may keep a CPU batch, or a view of it, as long as it likes) and its last copy to the
// device has completed. Thread-safe: DataLoader workers assemble batches concurrently.
#include <c10/core/Event.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace pydmed {

class BatchBuffers {
 public:
  // Buffers of [rows, item...] uint8, pinned or not; at most `capacity` kept.
  BatchBuffers(std::vector<std::int64_t> item_shape, bool pinned, std::size_t capacity = 4);

  // A [rows, item...] tensor that nothing live shares. When every kept buffer is busy only
  // because its copy is still in flight, calls wait_for_copies (which must block until the copies
  // enqueued so far have completed) instead of allocating.
  torch::Tensor acquire(std::int64_t rows, const std::function<void()>& wait_for_copies = nullptr);
  // A copy out of `buffer` (a tensor acquire returned) was enqueued; `done` is recorded after it.
  void copy_enqueued(const torch::Tensor& buffer, c10::Event done);

  std::size_t allocations() const;  // buffers allocated so far

 private:
  struct Entry {
    torch::Tensor buffer;
    std::unique_ptr<c10::Event> copy_done;  // absent: never copied, or known complete
  };
  bool idle(Entry& e) const;  // caller holds mu_
  torch::Tensor allocate(std::int64_t rows);

  const std::vector<std::int64_t> item_shape_;
  const bool pinned_;
  const std::size_t capacity_;
  mutable std::mutex mu_;  // guards entries_ and allocations_
  std::vector<Entry> entries_;
  std::size_t allocations_ = 0;
};

}  // namespace pydmed
