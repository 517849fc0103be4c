#include "engine/patient_registry.hpp"

#include "engine/collector_slot.hpp"
#include "engine/process.hpp"
#include "engine/task_context.hpp"
#include "pydmed/error.hpp"

namespace pydmed::detail {

namespace {
nlohmann::json parse_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  auto j = nlohmann::json::parse(s, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}
}  // namespace

VisitStart VisitStart::of(std::size_t slot, const CollectorSlot& cs) {
  VisitStart v;
  std::string ignored;
  v.slot = slot;
  v.head = cs.ring.published();
  v.checkpoint = cs.checkpoint.read(&ignored);
  v.status = cs.status.read(&ignored);
  v.counters = CounterSnapshot::of(*cs.counters);
  return v;
}

std::uint64_t VisitStart::produced(const CollectorSlot& cs) const {
  const std::uint64_t reports = cs.counters->reports.load() - counters.reports;
  const std::uint64_t slots = std::uint32_t(cs.ring.published() - head);
  return slots > reports ? slots - reports : 0;
}

PatientRegistry::PatientRegistry(const Dataset& dataset, const Options& options,
                                 const std::vector<std::unique_ptr<CollectorSlot>>& slots,
                                 std::function<void(const std::string&)> log, std::chrono::steady_clock::time_point t0)
    : dataset_(dataset), options_(options), slots_(slots), log_(std::move(log)), t0_(t0) {
  for (const Patient& p : dataset_.list_patients) patients_[p.int_uniqueid].patient = &p;
}

PatientRegistry::PatientState& PatientRegistry::at(std::int64_t patient, const char* who) {
  auto it = patients_.find(patient);
  if (it == patients_.end()) throw Error(std::string(who) + ": no patient " + std::to_string(patient));
  return it->second;
}
const PatientRegistry::PatientState& PatientRegistry::at(std::int64_t patient, const char* who) const {
  return const_cast<PatientRegistry*>(this)->at(patient, who);
}

std::vector<std::int64_t> PatientRegistry::loaded_patients() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::int64_t> out;
  for (auto& [id, ps] : patients_)
    if (ps.running) out.push_back(id);
  return out;
}

std::vector<std::int64_t> PatientRegistry::waiting_patients() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::int64_t> out;
  for (auto& [id, ps] : patients_)
    if (is_loadable(ps)) out.push_back(id);
  return out;
}

bool PatientRegistry::loadable(std::int64_t patient) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = patients_.find(patient);
  return it != patients_.end() && is_loadable(it->second);
}

std::uint32_t PatientRegistry::schedcount(std::int64_t patient) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = patients_.find(patient);
  return it == patients_.end() ? 0 : it->second.kept.visits;
}

std::uint64_t PatientRegistry::swaps() const {
  std::lock_guard<std::mutex> g(mu_);
  return swaps_;
}

void PatientRegistry::count_swap() {
  std::lock_guard<std::mutex> g(mu_);
  ++swaps_;
}

std::uint64_t PatientRegistry::next_decision() {
  std::lock_guard<std::mutex> g(mu_);
  return decisions_++;
}

VisitSpec PatientRegistry::begin_visit(std::int64_t patient) {
  std::lock_guard<std::mutex> g(mu_);
  PatientState& ps = at(patient, "begin_visit");
  VisitSpec spec;
  spec.patient = *ps.patient;
  spec.visit = ps.kept.visits++;
  spec.checkpoint = ps.kept.checkpoint;
  spec.message = ps.message;
  spec.reads_before = ps.kept.bigchunks;
  spec.failed_before = ps.kept.bigchunks_failed;
  return spec;
}

void PatientRegistry::running(std::int64_t patient, const VisitStart& start) {
  std::lock_guard<std::mutex> g(mu_);
  at(patient, "running").running = start;
}

void PatientRegistry::end_visit(std::int64_t patient, const VisitEnd& end) {
  std::lock_guard<std::mutex> g(mu_);
  PatientState& ps = at(patient, "end_visit");
  if (!ps.running) return;
  const VisitStart v = *ps.running;
  const CollectorSlot& cs = *slots_[v.slot];
  std::string checkpoint, status;
  const std::uint32_t cv = cs.checkpoint.read(&checkpoint);
  const std::uint32_t sv = cs.status.read(&status);
  ps.produced += v.produced(cs);
  const CounterSnapshot visit = v.counted(cs);
  ps.kept.bigchunks += visit.bigchunks;
  ps.kept.bigchunks_failed += visit.failed;
  ps.read_ns += visit.read_ns;
  if (cv != v.checkpoint) ps.kept.checkpoint = parse_or_null(checkpoint);
  if (sv != v.status) ps.kept.status = parse_or_null(status);
  ps.running.reset();
  ended_cpu_s_ += end.cpu_s;
  if (end.finished) {
    ps.kept.finished = true;
    log_("patient " + std::to_string(patient) + " finished (no more BigChunks)");
  }
  if (!end.failure.empty()) fail(ps, v.visit, end.failure);
}

void PatientRegistry::record_error(std::int64_t patient, std::uint32_t visit, const std::string& message) {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  errors_.push_back({patient, visit, message, t});
  log_("error: patient " + std::to_string(patient) + " visit " + std::to_string(visit) + ": " + message);
}

void PatientRegistry::fail(PatientState& ps, std::uint32_t visit, const std::string& message) {
  const std::int64_t id = ps.patient->int_uniqueid;
  if (!message.empty() && message[0] == CollectorSlot::kRetryCannotFix) {  // one line, no retries
    ++ps.kept.failures;
    if (!ps.kept.set_aside) record_error(id, visit, message.substr(1) + " (set aside: retrying cannot fix it)");
    ps.kept.set_aside = true;
    return;
  }
  record_error(id, visit, message);
  if (++ps.kept.failures >= std::uint32_t(options_.max_failures()) && !ps.kept.set_aside) {
    ps.kept.set_aside = true;
    record_error(id, visit, "set aside after " + std::to_string(ps.kept.failures) + " failures");
  }
}

void PatientRegistry::record_failure(std::int64_t patient, std::uint32_t visit, const std::string& message) {
  std::lock_guard<std::mutex> g(mu_);
  fail(at(patient, "record_failure"), visit, message);
}

void PatientRegistry::count_delivered(const std::map<std::int64_t, std::uint64_t>& delivered,
                                      const std::map<std::int64_t, std::uint64_t>& skipped, double waited_s) {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& [id, c] : delivered) at(id, "delivered").delivered += c;
  for (auto& [id, c] : skipped) at(id, "skipped").skipped += c;
  consumer_wait_s_ += waited_s;
}

void PatientRegistry::send_message(std::int64_t patient, const nlohmann::json& message) {
  std::lock_guard<std::mutex> g(mu_);
  at(patient, "send_message").message = message;
}

// The live value while the patient is loaded (once its collector has set one), else the last
// value kept from an earlier visit.
nlohmann::json PatientRegistry::live_or_kept(std::int64_t patient, bool checkpoint) const {
  std::lock_guard<std::mutex> g(mu_);
  return live_or_kept(at(patient, checkpoint ? "get_checkpoint" : "get_status"), checkpoint);
}

nlohmann::json PatientRegistry::live_or_kept(const PatientState& ps, bool checkpoint) const {
  if (ps.running) {
    const CollectorSlot& cs = *slots_[ps.running->slot];
    std::string s;
    const std::uint32_t v = checkpoint ? cs.checkpoint.read(&s) : cs.status.read(&s);
    if (v != (checkpoint ? ps.running->checkpoint : ps.running->status)) return parse_or_null(s);
  }
  return checkpoint ? ps.kept.checkpoint : ps.kept.status;
}

nlohmann::json PatientRegistry::checkpoint(std::int64_t patient) const { return live_or_kept(patient, true); }
nlohmann::json PatientRegistry::status(std::int64_t patient) const { return live_or_kept(patient, false); }

void PatientRegistry::save(LoaderState* s) const {
  std::lock_guard<std::mutex> g(mu_);
  s->swaps = swaps_;
  s->decisions = decisions_;
  s->patients.clear();
  for (auto& [id, ps] : patients_) {
    PatientProgress& p = s->patients[id] = ps.kept;
    p.checkpoint = live_or_kept(ps, true);  // a running visit's own
    p.status = live_or_kept(ps, false);
  }
}

void PatientRegistry::restore(const LoaderState& s) {
  std::lock_guard<std::mutex> g(mu_);
  swaps_ = s.swaps;
  decisions_ = s.decisions;
  for (const auto& [id, p] : s.patients) {
    auto it = patients_.find(id);
    if (it == patients_.end()) continue;  // another rank's, or a patient no longer in the dataset
    it->second.kept = p;
  }
}

std::vector<PatientError> PatientRegistry::errors() const {
  std::lock_guard<std::mutex> g(mu_);
  return errors_;
}

std::vector<pid_t> PatientRegistry::collector_pids() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<pid_t> out;
  for (auto& [id, ps] : patients_)
    if (ps.running) out.push_back(ps.running->pid);
  return out;
}

PatientStats PatientRegistry::stats_of(const PatientState& ps) const {
  PatientStats p;
  p.patient = ps.patient->int_uniqueid;
  p.visits = ps.kept.visits;
  p.produced = ps.produced;
  p.delivered = ps.delivered;
  p.skipped = ps.skipped;
  p.bigchunks = ps.kept.bigchunks;
  p.bigchunk_read_s = double(ps.read_ns) * 1e-9;
  if (ps.running) {  // the running visit so far
    const CollectorSlot& cs = *slots_[ps.running->slot];
    p.produced += ps.running->produced(cs);
    const CounterSnapshot visit = ps.running->counted(cs);
    p.bigchunks += visit.bigchunks;
    p.bigchunk_read_s += double(visit.read_ns) * 1e-9;
  }
  p.failures = ps.kept.failures;
  p.loaded = bool(ps.running);
  p.finished = ps.kept.finished;
  p.set_aside = ps.kept.set_aside;
  return p;
}

std::vector<PatientStats> PatientRegistry::patient_stats() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<PatientStats> out;
  for (auto& [id, ps] : patients_) out.push_back(stats_of(ps));
  return out;
}

void PatientRegistry::fill(LoaderStats* s) const {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& [id, ps] : patients_) {
    const PatientStats p = stats_of(ps);
    s->produced += p.produced;
    s->delivered += p.delivered;
    s->bigchunks += p.bigchunks;
    s->bigchunk_read_s += p.bigchunk_read_s;
    s->patients.push_back(p);
    if (ps.running) {  // live processes' CPU from /proc (a loader's joins its collector's only when reaped)
      s->children_cpu_s += process_cpu_seconds(ps.running->pid);
      if (const pid_t loader = slots_[ps.running->slot]->counters->loader_pid.load()) {
        s->children_cpu_s += process_cpu_seconds(loader);
      }
    }
  }
  s->swaps = swaps_;
  s->errors = errors_.size();
  s->consumer_wait_s = consumer_wait_s_;
  s->children_cpu_s += ended_cpu_s_;
}

}  // namespace pydmed::detail
