// The SmallChunk ring against plain memcpy of the same bytes, in one run (Google Benchmark).
//   build/benchmarks/ring_bench --benchmark_format=json
// BM_Ring: a forked producer process fills slots, this process drains each slot into a batch
// buffer (the root's real work). BM_Memcpy: the same bytes copied once, in one process.
#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <vector>

#include "engine/ring.hpp"
#include "engine/shared_memory.hpp"

using namespace pydmed::detail;

namespace {

constexpr std::uint32_t kSlots = 128;

void BM_Ring(benchmark::State& state) {
  const std::size_t bytes = std::size_t(state.range(0));
  SharedMemory mem(64 + 64 + Ring::bytes_for(kSlots, 0, bytes));
  auto* bell = new (mem.data()) Doorbell();
  auto* stop = reinterpret_cast<volatile std::sig_atomic_t*>(mem.data() + 64);
  Ring ring(mem.data() + 128, kSlots, 0, bytes, bell);
  const pid_t producer = fork();
  if (producer == 0) {
    std::vector<std::uint8_t> src(bytes, 7);
    for (std::uint64_t i = 0;; ++i) {
      std::uint8_t* s = ring.wait_for_free_slot(stop);
      if (!s) _exit(0);
      std::memcpy(s, &i, sizeof i);  // a header's worth of bytes (the slot codec's, in the engine)
      std::memcpy(ring.data(s), src.data(), bytes);
      ring.publish();
    }
  }
  std::vector<std::uint8_t> batch(bytes * 64);
  std::size_t at = 0;
  for (auto _ : state) {
    while (ring.available() == 0) {
      const std::uint32_t snap = bell->snapshot();
      if (ring.available() == 0) bell->wait(snap, 100);
    }
    std::memcpy(batch.data() + (at++ % 64) * bytes, ring.data(ring.front()), bytes);
    ring.pop();
  }
  *stop = 1;
  while (ring.available() > 0) ring.pop();  // wakes a producer parked on a full ring
  int status;
  waitpid(producer, &status, 0);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * std::int64_t(bytes));
}

void BM_Memcpy(benchmark::State& state) {
  const std::size_t bytes = std::size_t(state.range(0));
  std::vector<std::uint8_t> src(bytes * kSlots, 7), batch(bytes * 64);
  std::size_t at = 0;
  for (auto _ : state) {
    std::memcpy(batch.data() + (at % 64) * bytes, src.data() + (at % kSlots) * bytes, bytes);
    ++at;
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * std::int64_t(bytes));
}

// 32 x 32, 224 x 224 and 512 x 512 RGB patches.
BENCHMARK(BM_Ring)->Arg(32 * 32 * 3)->Arg(224 * 224 * 3)->Arg(512 * 512 * 3)->UseRealTime();
BENCHMARK(BM_Memcpy)->Arg(32 * 32 * 3)->Arg(224 * 224 * 3)->Arg(512 * 512 * 3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
