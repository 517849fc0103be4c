#pragma once
// Moves assembled batches to their device on a copy stream of their own, so the next batch's
// transfer (and its device collate stage) overlaps the current training step.
//
// Threads: transfer() runs on whichever thread assembles a batch (the prefetch task or a
// DataLoader worker), hand_over() on the thread that returns it from get_batch. The copy stream
// is shared by them (streams are thread-safe); nothing here is mutable after construction.
// Ordering: the copy stream's work -> `ready` event -> the stream current on the thread that
// calls get_batch waits on it (hand_over), so no kernel queued there after get_batch returns can
// read a half-copied batch. With DataLoader workers that thread is a worker, whose current
// stream is the default one: the training loop must then run on the default stream too.
// Written against c10's device-generic API, so it compiles in a CPU-only LibTorch too.
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/types.h>

#include <functional>
#include <memory>

#include "pydmed/torch/batch.hpp"
#include "pydmed/torch/collate.hpp"

namespace pydmed {

class DeviceFeed {
 public:
  explicit DeviceFeed(torch::Device device);  // resolved: a CUDA device has an index

  const torch::Device& device() const { return device_; }
  bool on_host() const { return device_.is_cpu(); }
  bool pinned() const { return device_.is_cuda(); }  // host buffers worth page-locking

  // Copies the batch's tensors to the device with non_blocking and runs `device_stage` there,
  // all on the copy stream (on the current stream where the device type has no stream pool).
  // `copied` gets the event after which the host buffers may be reused, before the device stage
  // runs (so a stage that throws cannot leave a buffer unguarded). Returns the event after which
  // the batch, device stage included, is on the device.
  c10::Event transfer(Batch& b, const CollateFn& device_stage, const std::function<void(c10::Event)>& copied) const;
  // The calling thread's current stream waits for `ready`; the batch's device memory is marked
  // as used on that stream, so the caching allocator does not give it back to the copy stream
  // while the training step's kernels may still read it.
  void hand_over(const Batch& b, const c10::Event& ready) const;
  // Blocks until every copy enqueued so far has completed.
  void wait_for_copies() const;

 private:
  c10::Stream copy_stream() const;
  torch::Device device_;
  std::unique_ptr<c10::impl::VirtualGuardImpl> impl_;  // absent on the CPU
  std::unique_ptr<c10::Stream> stream_;                // absent where there is no stream pool
};

}  // namespace pydmed
