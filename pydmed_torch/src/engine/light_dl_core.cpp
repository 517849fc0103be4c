#include "pydmed/engine/light_dl_core.hpp"

#include "engine/light_dl_core_impl.hpp"
#include "pydmed/slide/remote.hpp"

namespace pydmed {

static_assert(std::is_same_v<pid_t, int>, "the public header gives process ids as int");


LightDLCore::Impl::Impl(Dataset ds, LoaderFactory loader, CollectorFactory collector, const Options& o,
                        std::shared_ptr<Scheduler> s)
    : options(detail::validated(o, loader && collector)),
      dataset(detail::share(std::move(ds), options)),
      make_loader(std::move(loader)),
      make_collector(std::move(collector)),
      scheduler(s ? std::move(s) : std::make_shared<Scheduler>()),
      plan(options.memory_plan(detail::slide_bytes(dataset, options.num_bigchunkloaders()))),  // refuses what does not fit
      log_fd(detail::open_log(options)),
      wake_fd(detail::open_eventfd()),
      registry(dataset, options, slots, [this](const std::string& line) { log(line); }, t0),
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
  // What a restored state had finished already: progress() paces only this run's slides. Written
  // before `started` is set (its store releases them to progress()'s load of it).
  std::int64_t done = 0;
  for (const PatientStats& p : registry.patient_stats()) done += p.finished || p.set_aside;
  done_before_start = done;
  started_s = now_s();
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

std::size_t LightDLCore::Impl::take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records) {
  const detail::BatchGatherer::Taken t = gatherer.take(out, max, records);
  if (!t.delivered.empty() || !t.skipped.empty()) registry.count_delivered(t.delivered, t.skipped, 0);
  delivered_total += t.n;
  if (t.last_patient >= 0) last_patient = t.last_patient;
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
void LightDLCore::log(const std::string& line) const { impl_->log(line); }
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

RunProgress LightDLCore::progress() const {
  const Impl& d = *impl_;
  const LoaderStats s = stats();
  RunProgress p;
  p.slides_total = std::int64_t(d.dataset.size());
  std::int64_t ended = 0;  // finished or set aside: nothing more will come of them
  for (const PatientStats& ps : s.patients) {
    const bool done = ps.finished && ps.delivered + ps.skipped >= ps.produced;
    p.slides_done += done;
    ended += done || ps.set_aside;
    p.items_done += std::int64_t(ps.delivered);
  }
  const bool started = d.started;  // then started_s and done_before_start are set (see start())
  p.elapsed_s = started ? s.uptime_s - d.started_s : 0;  // since start(): the run, not its set-up
  p.rate_per_s = p.elapsed_s > 0 ? double(p.items_done) / p.elapsed_s : 0;
  // Where every patient ends (sliding windows): the slides left at this run's pace of slides.
  if (const std::int64_t now = ended - (started ? d.done_before_start : ended); now > 0)
    p.eta_s = p.elapsed_s * double(p.slides_total - ended) / double(now);
  else if (ended == p.slides_total)
    p.eta_s = 0.0;
  if (const std::int64_t id = d.last_patient; id >= 0) p.current = redact_url(d.dataset.patient(id).slide_path());
  return p;
}

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

}  // namespace pydmed
