#include "pydmed/engine/light_dl_core.hpp"

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
#include "engine/collector_pool.hpp"
#include "engine/patient_registry.hpp"
#include "engine/process.hpp"
#include "engine/task_context.hpp"
#include "file_descriptor.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

using detail::CollectorSlot;

namespace {
constexpr int kStopGraceMs = 500;         // SIGTERM to SIGKILL: stop() must end within a second
constexpr double kMaxSwapInterval = 1e6;  // seconds (11 days): poll's int milliseconds hold it
static_assert(std::is_same_v<pid_t, int>, "the public header gives process ids as int");

// What the loaders' open slides may hold at once: every record of a patient open in each of
// the `collectors` loaders, taking the patients that hold the most.
std::size_t slide_bytes(const Dataset& ds, int collectors) {
  std::vector<std::size_t> per_patient;
  for (const Patient& p : ds.list_patients) {
    std::size_t sum = 0;
    for (const auto& [name, record] : p.dict_records) sum += Slide::resident_bytes_estimate(record.path());
    per_patient.push_back(sum);
  }
  std::sort(per_patient.begin(), per_patient.end(), std::greater<>());
  per_patient.resize(std::min(per_patient.size(), std::size_t(collectors)));
  std::size_t total = 0;
  for (std::size_t b : per_patient) total += b;
  return total;
}

// This rank's share of the dataset; refuses an empty one.
Dataset share(Dataset dataset, const Options& o) {
  // A loader with nothing to serve would only wait: say so at once.
  if (dataset.size() == 0) throw DatasetError("no patients in dataset '" + dataset.str_dsname + "'");
  if (o.world_size() <= 1) return dataset;
  const std::size_t all = dataset.size();
  Dataset mine = dataset.shard(o.rank(), o.world_size(), dataset.common_label());
  if (mine.size() == 0) {
    throw DatasetError("rank " + std::to_string(o.rank()) + " of " + std::to_string(o.world_size()) +
                       " has no patients: dataset '" + mine.str_dsname + "' has " + std::to_string(all) +
                       ", fewer than the ranks");
  }
  return mine;
}

const Options& validated(const Options& o, bool have_factories) {
  if (!have_factories) throw Error("LightDLCore needs a loader and a collector factory");
  o.validate();
  return o;
}

detail::FileDescriptor open_log(const Options& o) {
  if (o.log_file().empty()) return detail::FileDescriptor();
  const int fd = ::open(o.log_file().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw OptionsError("log_file", o.log_file() + ": " + std::strerror(errno));
  return detail::FileDescriptor(fd);
}

detail::FileDescriptor open_eventfd() {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw Error(std::string("eventfd failed: ") + std::strerror(errno));
  return detail::FileDescriptor(fd);
}
}  // namespace

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
  std::atomic<double> last_request_s{0};   // when next_batch was last called
  std::atomic<double> scheduler_cpu_s{0};  // the scheduler thread's CPU, as of its last wake
  // Scheduler thread only: when schedule() is next asked (none: never), what was delivered then.
  std::optional<std::chrono::steady_clock::time_point> next_swap;
  std::uint64_t delivered_at_last_swap = 0;
  std::thread thread;
  std::mutex start_mu;
};

LightDLCore::Impl::Impl(Dataset ds, LoaderFactory loader, CollectorFactory collector, const Options& o,
                        std::shared_ptr<Scheduler> s)
    : options(validated(o, loader && collector)),
      dataset(share(std::move(ds), options)),
      make_loader(std::move(loader)),
      make_collector(std::move(collector)),
      scheduler(s ? std::move(s) : std::make_shared<Scheduler>()),
      plan(options.memory_plan(slide_bytes(dataset, options.num_bigchunkloaders()))),  // refuses what does not fit
      log_fd(open_log(options)),
      wake_fd(open_eventfd()),
      registry(dataset, options, slots, log_fd.get(), t0),
      pool(options, make_loader, make_collector, slots, log_fd.get()),
      gatherer(slots, options.patch_shape().bytes()) {
  const std::size_t n = std::size_t(options.num_bigchunkloaders());
  const std::size_t slot_bytes = detail::align64(CollectorSlot::bytes_for(options));
  shm = std::make_unique<detail::SharedMemory>(detail::kDoorbellBytes + n * slot_bytes);
  bell = new (shm->data()) detail::Doorbell();
  for (std::size_t k = 0; k < n; ++k) {
    slots.push_back(
        std::make_unique<CollectorSlot>(shm->data() + detail::kDoorbellBytes + k * slot_bytes, options, bell));
  }
}

void LightDLCore::Impl::start() {
  std::lock_guard<std::mutex> g(start_mu);
  if (started || stopping) return;
  started = true;
  thread = std::thread([this] { scheduler_main(); });
}

void LightDLCore::Impl::stop() {
  // Held throughout: a second caller (a signal's watcher thread beside the destructor) returns
  // only once the tree is down.
  std::lock_guard<std::mutex> g(start_mu);
  stopping = true;
  wake_scheduler();
  if (thread.joinable()) thread.join();
  finished = true;
  bell->ring();  // consumers waiting for a batch see the end
}

void LightDLCore::Impl::wake_scheduler() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd.get(), &one, sizeof one);
}

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
      registry.log(halted ? "halted by schedule()" : "every patient is finished or set aside");
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
      registry.log("initial_schedule: ignoring patient " + std::to_string(id) + " (unknown, repeated or not loadable)");
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
    registry.log("swap_interval() returned " + std::to_string(*s) + "; using interval_resched");
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
  registry.log("patient " + std::to_string(id) + " visit " + std::to_string(spec.visit) + " loaded on collector " +
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
        registry.log("replacement(): patient " + std::to_string(*id) + " cannot be loaded; slot left free");
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
    registry.log("schedule(): cannot swap patient " + std::to_string(d.remove) + " for " + std::to_string(d.load) +
                 "; ignored");
    return;
  }
  end_visit(pool.stop(*k, kStopGraceMs));
  if (!start_visit(*k, d.load)) fill_free_slots();
  registry.count_swap();
}

std::size_t LightDLCore::Impl::take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records) {
  const detail::BatchGatherer::Taken t = gatherer.take(out, max, records);
  if (!t.delivered.empty() || !t.skipped.empty()) registry.count_delivered(t.delivered, t.skipped, 0);
  delivered_total += t.n;
  if (t.n > 0 && swap_pending) wake_scheduler();  // a postponed swap may go ahead now
  return t.n;
}

LightDLCore::LightDLCore(Dataset dataset, LoaderFactory make_loader, CollectorFactory make_collector, Options options,
                         std::shared_ptr<Scheduler> scheduler)
    : impl_(std::make_unique<Impl>(std::move(dataset), std::move(make_loader), std::move(make_collector), options,
                                   std::move(scheduler))) {}

LightDLCore::~LightDLCore() { stop(); }

void LightDLCore::start() { impl_->start(); }
void LightDLCore::stop() { impl_->stop(); }

std::size_t LightDLCore::next_batch(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records) {
  return next_batch_for(out, max, records, -1);
}

std::size_t LightDLCore::next_batch_for(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records,
                                        double timeout_s) {
  Impl& d = *impl_;
  d.start();
  d.last_request_s = d.now_s();
  if (records) records->clear();
  const std::size_t bytes = d.options.patch_shape().bytes();
  const auto begin = std::chrono::steady_clock::now();
  double waited = 0;
  std::size_t n = 0;
  while (n < max) {
    const std::uint32_t snap = d.bell->snapshot();
    const bool was_finished = d.finished;
    n += d.take(out + n * bytes, max - n, records);
    if (n == max || was_finished) break;  // finished before the take: nothing more will come
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    if (timeout_s >= 0 && elapsed >= timeout_s) break;
    const int wait_ms = timeout_s < 0 ? 1000 : int(std::max(1.0, (timeout_s - elapsed) * 1000));
    const auto w0 = std::chrono::steady_clock::now();
    d.bell->wait(snap, std::min(wait_ms, 1000));
    waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  }
  d.registry.count_delivered({}, {}, waited);
  return n;
}

bool LightDLCore::finished() const { return impl_->finished; }
void LightDLCore::send_message(std::int64_t patient, const nlohmann::json& message) {
  impl_->registry.send_message(patient, message);
}
nlohmann::json LightDLCore::get_checkpoint(std::int64_t patient) const { return impl_->registry.checkpoint(patient); }
nlohmann::json LightDLCore::get_status(std::int64_t patient) const { return impl_->registry.status(patient); }
std::vector<PatientError> LightDLCore::errors() const { return impl_->registry.errors(); }
std::vector<SkippedReport> LightDLCore::skipped() const { return impl_->gatherer.skipped(); }
void LightDLCore::log(const std::string& line) const { impl_->registry.log(line); }
const Dataset& LightDLCore::dataset() const { return impl_->dataset; }
const Options& LightDLCore::options() const { return impl_->options; }
const SchedulerView& LightDLCore::view() const { return impl_->registry; }
std::vector<std::int64_t> LightDLCore::loaded_patients() const { return impl_->registry.loaded_patients(); }
std::vector<std::int64_t> LightDLCore::waiting_patients() const { return impl_->registry.waiting_patients(); }
std::uint32_t LightDLCore::schedcount(std::int64_t patient) const { return impl_->registry.schedcount(patient); }
const MemoryPlan& LightDLCore::memory_plan() const { return impl_->plan; }

LoaderState LightDLCore::loader_state() const {
  const Impl& d = *impl_;
  LoaderState s;
  s.seed = d.options.seed();
  s.rank = d.options.rank();
  s.world_size = d.options.world_size();
  d.registry.save(&s);
  s.scheduler = d.scheduler->state();
  return s;
}
nlohmann::json LightDLCore::state() const { return loader_state().to_json(); }

void LightDLCore::restore(const LoaderState& state) {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> g(d.start_mu);  // holds off start() until restored
  if (d.started) throw Error("restore: the loader has started; restore a state before the first batch");
  d.registry.restore(state);
  d.scheduler->restore(state.scheduler);
}
void LightDLCore::restore(const nlohmann::json& state) { restore(LoaderState::from_json(state)); }

LoaderStats LightDLCore::stats() const {
  const Impl& d = *impl_;
  LoaderStats s;
  s.root_queue = d.gatherer.stored();
  d.registry.fill(&s);
  for (auto& slot : d.slots) {
    s.ring_fill += slot->ring.available();
    s.ring_capacity += slot->ring.capacity();
  }
  s.uptime_s = d.now_s();
  s.tree_cpu_s = s.children_cpu_s + d.scheduler_cpu_s.load();
  return s;
}

std::vector<int> LightDLCore::collector_pids() const { return impl_->registry.collector_pids(); }

std::vector<int> LightDLCore::loader_pids() const {
  std::vector<int> out;
  for (auto& s : impl_->slots)
    if (pid_t p = s->counters->loader_pid.load()) out.push_back(p);
  return out;
}

namespace {
// Checked in the root, where the options are made: a bad one is the caller's error, at once.
void check_fraction(const char* option, double v) {
  if (!(v >= 0 && v <= 1)) throw OptionsError(option, "must be between 0 and 1, not " + std::to_string(v));
}
}  // namespace

LoaderFactory random_bigchunk_loader(const RandomBigChunkOptions& o) {
  check_fraction("min_tissue", o.min_tissue());
  check_fraction("min_roi_fraction", o.min_roi_fraction());
  return [o] { return std::make_unique<RandomBigChunkLoader>(o); };
}
CollectorFactory random_smallchunk_collector(const RandomSmallChunkOptions& o) {
  check_fraction("min_tissue", o.min_tissue());
  return [o] { return std::make_unique<RandomSmallChunkCollector>(o); };
}

}  // namespace pydmed
