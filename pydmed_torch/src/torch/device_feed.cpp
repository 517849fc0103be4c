#include "device_feed.hpp"

#include <c10/core/DeviceGuard.h>
#include <c10/core/StreamGuard.h>
#include <torch/torch.h>

namespace pydmed {

DeviceFeed::DeviceFeed(torch::Device device) : device_(device) {
  if (on_host()) return;
  impl_ = std::make_unique<c10::impl::VirtualGuardImpl>(device_.type());
  try {
    stream_ = std::make_unique<c10::Stream>(impl_->getStreamFromGlobalPool(device_, /*isHighPriority=*/false));
  } catch (const c10::Error&) {
    // A backend without a stream pool: copies go on the current stream, still ordered by events.
  }
}

c10::Stream DeviceFeed::copy_stream() const { return stream_ ? *stream_ : impl_->getStream(device_); }

c10::Event DeviceFeed::transfer(Batch& b, const CollateFn& device_stage,
                                const std::function<void(c10::Event)>& copied) const {
  const c10::Stream stream = copy_stream();
  c10::StreamGuard on_copy_stream(stream);  // also makes device_ current on this thread
  auto move = [&](torch::Tensor& t) {
    if (t.defined()) t = t.to(device_, /*non_blocking=*/true);
  };
  move(b.data);
  move(b.patients);
  move(b.coords);
  move(b.labels);
  c10::Event done_copying(device_.type());
  done_copying.record(stream);
  copied(std::move(done_copying));
  if (device_stage) device_stage(b);
  c10::Event ready(device_.type());
  ready.record(stream);
  return ready;
}

void DeviceFeed::hand_over(const Batch& b, const c10::Event& ready) const {
  c10::DeviceGuard on_device(device_);
  const c10::Stream consumer = impl_->getStream(device_);
  ready.block(consumer);
  if (stream_ && consumer != *stream_) {
    for (const torch::Tensor* t : {&b.data, &b.patients, &b.coords, &b.labels})
      if (t->defined() && t->device() == device_) impl_->recordDataPtrOnStream(t->storage().data_ptr(), consumer);
  }
}

void DeviceFeed::wait_for_copies() const {
  if (impl_) impl_->synchronizeStream(copy_stream());
}

}  // namespace pydmed
