#pragma once
// A single-producer single-consumer ring of fixed-size slots in shared memory: a collector
// process writes SmallChunks, the root reads them. Counters only grow (mod 2^32), so the
// number a collector has published is simply `head`. Blocking, never spinning: a full ring
// parks the producer on a futex; a published slot rings the consumer's doorbell.
//
// Who owns what: the producer (one collector process) writes `head` and a slot until it
// publishes it; the consumer writes `tail`. The consumer is single because the root calls
// available/front/pop only under BatchGatherer::mu_. Memory orders, in pairs:
// - publish()'s release store of head / the consumer's acquire load of head (available,
//   published): the slot's bytes, written before publish, are visible once it is counted;
// - pop()'s store of tail (seq_cst, so a release too) / the producer's acquire load of tail in
//   wait_for_free_slot: the consumer has finished reading a slot before it is reused;
// - producer_sleeping: the producer stores 1 then loads tail, the consumer stores tail then
//   loads producer_sleeping, all seq_cst. In their single total order one of them sees the
//   other's store: the consumer wakes the producer, or the producer sees room and does not
//   sleep. futex_wait(&tail, seen) re-checks tail in the kernel, so a pop between the load and
//   the sleep is not lost either (and the wait times out after a second regardless).
// The atomics live in memory shared by two processes: they must be lock-free (address-free).
#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "engine/futex.hpp"

namespace pydmed::detail {

// Shared-memory layouts keep every part on its own cache lines.
constexpr std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }

// A slot: a fixed header area (kSlotHeaderBytes; what it holds is the slot codec's,
// slot_codec.hpp), then info_cap bytes of info, then data_cap bytes of data.
constexpr std::size_t kSlotHeaderBytes = 128;
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "ring counters are shared between processes");

class Ring {
 public:
  static std::size_t slot_stride(std::size_t info_cap, std::size_t data_cap);
  static std::size_t bytes_for(std::uint32_t capacity, std::size_t info_cap, std::size_t data_cap);

  // A view over `bytes_for(...)` bytes of shared memory, which start zeroed.
  Ring(void* at, std::uint32_t capacity, std::size_t info_cap, std::size_t data_cap, Doorbell* bell);

  std::uint32_t capacity() const { return cap_; }

  // Producer. Blocks while full; returns nullptr as soon as *stop is set (checked at least
  // once a second, and at once on a signal).
  std::uint8_t* wait_for_free_slot(const volatile std::sig_atomic_t* stop);
  void publish();
  std::uint32_t published() const { return h_->head.load(std::memory_order_acquire); }

  // Consumer: one thread at a time (the caller's lock).
  std::uint32_t available() const {
    return h_->head.load(std::memory_order_acquire) - h_->tail.load(std::memory_order_relaxed);
  }
  const std::uint8_t* front() const;  // the oldest unconsumed slot; available() > 0
  void pop();

  // A slot's parts: the header area is the slot's start.
  static std::uint8_t* info(std::uint8_t* slot) { return slot + kSlotHeaderBytes; }
  static const std::uint8_t* info(const std::uint8_t* slot) { return slot + kSlotHeaderBytes; }
  std::uint8_t* data(std::uint8_t* slot) const { return slot + kSlotHeaderBytes + info_cap_; }
  const std::uint8_t* data(const std::uint8_t* slot) const { return slot + kSlotHeaderBytes + info_cap_; }

 private:
  // Each writer's counter on its own cache line, so the two processes never write one line.
  struct Header {
    alignas(64) std::atomic<std::uint32_t> head;   // the producer's
    alignas(64) std::atomic<std::uint32_t> tail;   // the consumer's
    std::atomic<std::uint32_t> producer_sleeping;  // the producer's; read by the consumer in pop()
  };
  static_assert(sizeof(Header) == 128 && offsetof(Header, tail) == 64, "the shared layout: two cache lines");
  std::uint8_t* slot(std::uint32_t index) const { return slots_ + std::size_t(index % cap_) * stride_; }

  Header* h_;
  std::uint8_t* slots_;
  std::uint32_t cap_;
  std::size_t info_cap_, data_cap_, stride_;
  Doorbell* bell_;
};

}  // namespace pydmed::detail
