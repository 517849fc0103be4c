// The scheduler thread's loop: wait, reap, maybe swap, check finished (LightDLCore::Impl).
#include <pthread.h>
#include <poll.h>

#include "engine/light_dl_core_impl.hpp"

namespace pydmed {

namespace {
constexpr int kStopGraceMs = 500;         // SIGTERM to SIGKILL: stop() must end within a second
constexpr double kMaxSwapInterval = 1e6;  // seconds (11 days): poll's int milliseconds hold it
}  // namespace

// Wait, reap, maybe swap, check finished.
void LightDLCore::Impl::scheduler_main() {
  if (!options.core_assignment().lightdl.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : options.core_assignment().lightdl) CPU_SET(c, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  start_initial();
  while (!stopping) {
    // Before each wait: a run with nothing to do (a restored state where every patient is
    // finished or set aside) ends here, not in a wait that nothing would end.
    if (!pool.any_busy() && !finished && (halted || registry.waiting_patients().empty())) {
      finished = true;
      log(halted ? "halted by schedule()" : "every patient is finished or set aside");
      bell->ring();
    }
    wait_for_event();
    if (stopping) break;
    bool freed = false;
    for (const detail::EndedVisit& e : pool.reap()) {
      end_visit(e);
      freed = true;
    }
    if (freed && !halted) fill_free_slots();
    maybe_swap();
  }
  pool.stop_all(kStopGraceMs, [this](const detail::EndedVisit& e) { end_visit(e); });
}

void LightDLCore::Impl::start_initial() {
  Rng rng = decision_rng();
  const std::vector<std::int64_t> first = scheduler->initial_schedule(registry, rng);
  std::set<std::int64_t> seen;
  std::size_t k = 0;
  bool failed_start = false;
  for (std::int64_t id : first) {
    if (k >= pool.size()) break;
    if (!seen.insert(id).second || !registry.loadable(id)) {
      log("initial_schedule: ignoring patient " + std::to_string(id) + " (unknown, repeated or not loadable)");
      continue;
    }
    if (start_visit(k, id))
      ++k;
    else
      failed_start = true;
  }
  if (failed_start) fill_free_slots();  // others in place of those that could not start
  schedule_next_swap();
}

// Asks the policy when schedule() is next due. What the clock cannot hold is read as: not a
// positive number, Options::interval_resched (logged); over kMaxSwapInterval, never.
void LightDLCore::Impl::schedule_next_swap() {
  next_swap.reset();
  if (halted) return;
  std::optional<double> s = scheduler->swap_interval(registry);
  if (s && !(*s > 0)) {
    log("swap_interval() returned " + std::to_string(*s) + "; using interval_resched");
    s = options.interval_resched();
  }
  if (!s || *s > kMaxSwapInterval) return;
  next_swap = std::chrono::steady_clock::now() +
              std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(*s));
}

// Until a collector ends, the wake eventfd is written (stop, a postponed swap may go ahead) or
// the next swap is due.
void LightDLCore::Impl::wait_for_event() {
  std::vector<pollfd> fds{{wake_fd.get(), POLLIN, 0}};
  const bool all_pidfds = pool.watch(&fds);
  int timeout_ms = -1;
  if (!halted && !finished && !swap_pending && next_swap) timeout_ms = detail::ms_until(*next_swap);
  if (!all_pidfds) timeout_ms = timeout_ms < 0 ? 100 : std::min(timeout_ms, 100);  // no pidfd: check often
  poll(fds.data(), fds.size(), timeout_ms);
  std::uint64_t drained;
  while (::read(wake_fd.get(), &drained, sizeof drained) > 0) {
  }
  timespec cpu{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  scheduler_cpu_s = double(cpu.tv_sec) + 1e-9 * double(cpu.tv_nsec);
}

void LightDLCore::Impl::maybe_swap() {
  if (halted || !next_swap || std::chrono::steady_clock::now() < *next_swap) return;
  // Swap only while the consumer is taking (something since the last swap, and a request
  // within the last second), and once it has taken all that the last swap moved to the root:
  // a paused consumer pauses the swapping, and its BigChunk reads, at once. take() wakes this
  // thread when that changes.
  const std::uint64_t delivered = delivered_total.load();
  const bool consuming = now_s() - last_request_s.load() < 1.0;
  if (gatherer.stored() != 0 || !consuming || delivered == delivered_at_last_swap) {
    swap_pending = true;
    return;
  }
  swap_pending = false;
  delivered_at_last_swap = delivered;
  do_swap();
  schedule_next_swap();
}

bool LightDLCore::Impl::start_visit(std::size_t k, std::int64_t id) {
  const detail::VisitSpec spec = registry.begin_visit(id);
  detail::VisitStart start;
  try {
    start = pool.start(k, spec);
  } catch (const std::exception& e) {
    // No process (fork failed): a failure of the patient's, so that retrying ends.
    registry.record_failure(id, spec.visit, e.what());
    return false;
  }
  registry.running(id, start);
  log("patient " + std::to_string(id) + " visit " + std::to_string(spec.visit) + " loaded on collector " +
               std::to_string(k) + " (pid " + std::to_string(start.pid) + ")");
  return true;
}

void LightDLCore::Impl::end_visit(const detail::EndedVisit& e) {
  gatherer.drain(e.slot);  // nothing the collector produced is lost
  registry.end_visit(e.patient, e.end);
  bell->ring();
}

void LightDLCore::Impl::fill_free_slots() {
  for (std::size_t k = 0; k < pool.size(); ++k) {
    // A start that fails counts against its patient, so this ends (set aside, or none left).
    while (!pool.busy(k)) {
      Rng rng = decision_rng();
      const auto id = scheduler->replacement(registry, rng);
      if (!id) return;
      if (!registry.loadable(*id)) {
        log("replacement(): patient " + std::to_string(*id) + " cannot be loaded; slot left free");
        return;
      }
      start_visit(k, *id);
    }
  }
}

void LightDLCore::Impl::do_swap() {
  Rng rng = decision_rng();
  const SchedDecision d = scheduler->schedule(registry, rng);
  if (d.kind == SchedDecision::Kind::Keep) return;
  if (d.kind == SchedDecision::Kind::Halt) {
    halted = true;
    pool.stop_all(kStopGraceMs, [this](const detail::EndedVisit& e) { end_visit(e); });
    return;
  }
  std::optional<std::size_t> k;
  for (std::size_t i = 0; i < pool.size(); ++i)
    if (pool.busy(i) && pool.patient(i) == d.remove) k = i;
  if (!k || !registry.loadable(d.load)) {
    log("schedule(): cannot swap patient " + std::to_string(d.remove) + " for " + std::to_string(d.load) +
                 "; ignored");
    return;
  }
  end_visit(pool.stop(*k, kStopGraceMs));
  if (!start_visit(*k, d.load)) fill_free_slots();
  registry.count_swap();
}

}  // namespace pydmed
