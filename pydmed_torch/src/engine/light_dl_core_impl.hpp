#pragma once
// Private: LightDLCore's parts and the state they share. light_dl_core.cpp holds construction,
// start/stop, next_batch and the public accessors; scheduler_thread.cpp the scheduler thread's loop.

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>

#include "engine/batch_gatherer.hpp"
#include "engine/loader_setup.hpp"
#include "engine/collector_pool.hpp"
#include "engine/patient_registry.hpp"
#include "engine/process.hpp"
#include "engine/task_context.hpp"
#include "file_descriptor.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"


namespace pydmed {

using detail::CollectorSlot;

// Threads: the scheduler thread (scheduler_main) owns the pool and the swap clock; callers of
// next_batch go through the gatherer; the registry serves everyone. Flags are atomics read
// without ordering needs beyond their own value, except finished_, which is set before the
// doorbell rings (the futex's seq_cst pairs with the consumer's snapshot).
struct LightDLCore::Impl {
  Impl(Dataset ds, LoaderFactory loader, CollectorFactory collector, const Options& o, std::shared_ptr<Scheduler> s);
  void start();
  void stop();

  // Scheduler thread.
  void scheduler_main();
  void start_initial();
  bool start_visit(std::size_t slot, std::int64_t patient);  // false: no process (recorded)
  void end_visit(const detail::EndedVisit& e);
  void fill_free_slots();
  void maybe_swap();
  void schedule_next_swap();
  void do_swap();
  void wait_for_event();
  // Consumers.
  std::size_t take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records);

  void wake_scheduler();
  Rng decision_rng() {
    return Rng({options.seed(), registry.next_decision(), std::uint64_t(detail::StreamRole::kScheduler)});
  }
  double now_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  void log(const std::string& line) const { detail::write_log_line(log_fd.get(), "lightdl", line); }

  const std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  const Options options;
  const Dataset dataset;
  const LoaderFactory make_loader;
  const CollectorFactory make_collector;
  const std::shared_ptr<Scheduler> scheduler;
  const MemoryPlan plan;
  const detail::FileDescriptor log_fd;
  const detail::FileDescriptor wake_fd;  // eventfd: wakes the scheduler thread's poll

  std::unique_ptr<detail::SharedMemory> shm;
  detail::Doorbell* bell = nullptr;
  std::vector<std::unique_ptr<CollectorSlot>> slots;  // fixed after construction

  detail::PatientRegistry registry;
  detail::CollectorPool pool;  // scheduler thread only
  detail::BatchGatherer gatherer;

  std::atomic<bool> started{false}, stopping{false}, finished{false}, halted{false};
  std::atomic<bool> swap_pending{false};  // a due swap waits for the consumer: take() wakes us
  std::atomic<std::uint64_t> delivered_total{0};
  std::atomic<std::int64_t> last_patient{-1};  // of the last SmallChunk delivered (progress' current)
  // Set by start() before the scheduler thread exists (progress() reads them once started is set).
  std::int64_t done_before_start = 0;
  double started_s = 0;
  std::atomic<double> last_request_s{0};   // when next_batch was last called
  std::atomic<double> scheduler_cpu_s{0};  // the scheduler thread's CPU, as of its last wake
  // Scheduler thread only: when schedule() is next asked (none: never), what was delivered then.
  std::optional<std::chrono::steady_clock::time_point> next_swap;
  std::uint64_t delivered_at_last_swap = 0;
  std::thread thread;
  std::mutex start_mu;
};

}  // namespace pydmed
