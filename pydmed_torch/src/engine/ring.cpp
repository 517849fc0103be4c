#include "engine/ring.hpp"

namespace pydmed::detail {

std::size_t Ring::slot_stride(std::size_t info_cap, std::size_t data_cap) {
  return align64(kSlotHeaderBytes + info_cap + data_cap);
}

std::size_t Ring::bytes_for(std::uint32_t capacity, std::size_t info_cap, std::size_t data_cap) {
  return sizeof(Header) + std::size_t(capacity) * slot_stride(info_cap, data_cap);
}

Ring::Ring(void* at, std::uint32_t capacity, std::size_t info_cap, std::size_t data_cap, Doorbell* bell)
    : h_(static_cast<Header*>(at)),
      slots_(static_cast<std::uint8_t*>(at) + sizeof(Header)),
      cap_(capacity),
      info_cap_(info_cap),
      data_cap_(data_cap),
      stride_(slot_stride(info_cap, data_cap)),
      bell_(bell) {}

std::uint8_t* Ring::wait_for_free_slot(const volatile std::sig_atomic_t* stop) {
  const std::uint32_t head = h_->head.load(std::memory_order_relaxed);
  for (;;) {
    if (*stop) return nullptr;
    std::uint32_t tail = h_->tail.load(std::memory_order_acquire);  // pairs with pop()'s store
    if (head - tail < cap_) return slot(head);
    // Announce the sleep, then re-check, so a pop between the two cannot be missed (the
    // seq_cst pairing with pop(), ring.hpp).
    h_->producer_sleeping.store(1, std::memory_order_seq_cst);
    tail = h_->tail.load(std::memory_order_seq_cst);
    if (head - tail >= cap_ && !*stop) futex_wait(&h_->tail, tail, 1000);
    h_->producer_sleeping.store(0, std::memory_order_relaxed);
  }
}

void Ring::publish() {
  // Relaxed load: only this producer writes head. Release: pairs with available()'s acquire.
  h_->head.store(h_->head.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  if (bell_) bell_->ring();
}

const std::uint8_t* Ring::front() const { return slot(h_->tail.load(std::memory_order_relaxed)); }

void Ring::pop() {
  // Relaxed load: only the consumer writes tail. Seq_cst store: releases the slot to the
  // producer and orders against producer_sleeping (ring.hpp).
  h_->tail.store(h_->tail.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  if (h_->producer_sleeping.load(std::memory_order_seq_cst)) futex_wake_all(&h_->tail);
}

}  // namespace pydmed::detail
