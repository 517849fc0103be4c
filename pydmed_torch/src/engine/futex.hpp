#pragma once
// Blocking waits on 32-bit words in shared memory, across processes (no FUTEX_PRIVATE_FLAG).
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pydmed::detail {

// Sleeps while *word == expected, at most timeout_ms (< 0: no limit). Returns early on a wake,
// a signal or a changed value; the caller re-checks its condition.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, int timeout_ms);
void futex_wake_all(std::atomic<std::uint32_t>* word);

// "Something changed": producers ring it, a consumer sleeps on it. A wake costs a system call
// only while somebody sleeps.
struct Doorbell {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> sleepers{0};

  void ring() {
    seq.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers.load(std::memory_order_seq_cst) != 0) futex_wake_all(&seq);
  }
  std::uint32_t snapshot() const { return seq.load(std::memory_order_seq_cst); }
  // Sleeps until the bell rings after `snap` was taken, or timeout.
  void wait(std::uint32_t snap, int timeout_ms) {
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (seq.load(std::memory_order_seq_cst) == snap) futex_wait(&seq, snap, timeout_ms);
    sleepers.fetch_sub(1, std::memory_order_seq_cst);
  }
};

// The doorbell's place at the start of the loader's shared memory, slots after it.
constexpr std::size_t kDoorbellBytes = 64;
static_assert(sizeof(Doorbell) <= kDoorbellBytes);

}  // namespace pydmed::detail
