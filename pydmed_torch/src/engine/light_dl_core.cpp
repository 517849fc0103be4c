#include "pydmed/engine/light_dl_core.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <cerrno>
#include <cstring>
#include <set>

#include "engine/collector_process.hpp"
#include "engine/collector_slot.hpp"
#include "engine/process.hpp"
#include "engine/task_context.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

using detail::CollectorSlot;
using detail::Ring;
using detail::SlotHeader;

namespace {
constexpr int kStopGraceMs = 500;  // SIGTERM to SIGKILL: stop() must end within a second

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

nlohmann::json parse_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  auto j = nlohmann::json::parse(s, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}
}  // namespace

struct LightDLCore::PatientState {
  const Patient* patient = nullptr;
  std::uint32_t schedcount = 0, failures = 0;
  bool finished = false, set_aside = false;
  int slot = -1;
  nlohmann::json checkpoint, message, status;
  std::uint64_t produced = 0, delivered = 0, skipped = 0, bigchunks = 0, bigchunks_failed = 0, read_ns = 0;
};

struct LightDLCore::SlotState {
  pid_t pid = 0;
  int pidfd = -1;
  std::int64_t patient = -1;
  std::uint32_t visit = 0;
  std::uint32_t head_at_start = 0, checkpoint_at_start = 0, status_at_start = 0;
  detail::CounterSnapshot at_start;

  // The slot's counters this visit.
  detail::CounterSnapshot counted(const CollectorSlot& cs) const { return detail::CounterSnapshot::of(*cs.counters).since(at_start); }
  // SmallChunks this visit published: ring slots less reports of skipped regions. The
  // collector counts a report after publishing its slot (a release), and reports are read
  // first here (an acquire), so the slots seen are never fewer than the reports.
  std::uint64_t produced(const CollectorSlot& cs) const {
    const std::uint64_t reports = cs.counters->reports.load() - at_start.reports;
    const std::uint64_t slots = std::uint32_t(cs.ring.published() - head_at_start);
    return slots > reports ? slots - reports : 0;
  }
};

// A SmallChunk moved out of a ring when its patient was swapped out: header, info, pixels.
struct LightDLCore::Stored {
  std::vector<std::uint8_t> bytes;
};

LightDLCore::LightDLCore(Dataset dataset, LoaderFactory make_loader, CollectorFactory make_collector, Options options,
                         std::shared_ptr<Scheduler> scheduler)
    : dataset_(std::move(dataset)),
      make_loader_(std::move(make_loader)),
      make_collector_(std::move(make_collector)),
      options_(std::move(options)),
      scheduler_(scheduler ? std::move(scheduler) : std::make_shared<Scheduler>()) {
  options_.validate();
  // A loader with nothing to serve would only wait: say so at once.
  if (dataset_.size() == 0) throw DatasetError("no patients in dataset '" + dataset_.str_dsname + "'");
  if (options_.world_size() > 1) {
    const std::size_t all = dataset_.size();
    dataset_ = dataset_.shard(options_.rank(), options_.world_size(), dataset_.common_label());
    if (dataset_.size() == 0) {
      throw DatasetError("rank " + std::to_string(options_.rank()) + " of " + std::to_string(options_.world_size()) +
                         " has no patients: dataset '" + dataset_.str_dsname + "' has " + std::to_string(all) +
                         ", fewer than the ranks");
    }
  }
  plan_ = options_.memory_plan(slide_bytes(dataset_, options_.num_bigchunkloaders()));  // refuses what does not fit
  if (!make_loader_ || !make_collector_) throw Error("LightDLCore needs a loader and a collector factory");
  for (const Patient& p : dataset_.list_patients) {
    auto ps = std::make_unique<PatientState>();
    ps->patient = &p;
    patients_[p.int_uniqueid] = std::move(ps);
  }
  const std::size_t n = std::size_t(options_.num_bigchunkloaders());
  const std::size_t slot_bytes = detail::align64(CollectorSlot::bytes_for(options_));
  shm_ = std::make_unique<detail::SharedMemory>(detail::kDoorbellBytes + n * slot_bytes);
  bell_ = new (shm_->data()) detail::Doorbell();
  for (std::size_t k = 0; k < n; ++k) {
    slots_.push_back(std::make_unique<CollectorSlot>(shm_->data() + detail::kDoorbellBytes + k * slot_bytes, options_, bell_));
    slot_state_.push_back(std::make_unique<SlotState>());
  }
  if (!options_.log_file().empty()) {
    log_fd_ = ::open(options_.log_file().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd_ < 0) throw OptionsError("log_file", options_.log_file() + ": " + std::strerror(errno));
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw Error(std::string("eventfd failed: ") + std::strerror(errno));
}

LightDLCore::~LightDLCore() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (log_fd_ >= 0) ::close(log_fd_);
}

double LightDLCore::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

void LightDLCore::log(const std::string& line) const { detail::write_log_line(log_fd_, "lightdl", line); }

void LightDLCore::start() {
  std::lock_guard<std::mutex> g(start_mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { scheduler_main(); });
}

void LightDLCore::stop() {
  // Held throughout: a second caller (a signal's watcher thread beside the destructor) returns
  // only once the tree is down.
  std::lock_guard<std::mutex> g(start_mu_);
  stopping_ = true;
  wake_scheduler();
  if (thread_.joinable()) thread_.join();
  finished_ = true;
  bell_->ring();  // consumers waiting for a batch see the end
}

void LightDLCore::wake_scheduler() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

Rng LightDLCore::decision_rng() {
  std::lock_guard<std::mutex> g(mu_);
  return Rng({options_.seed(), decisions_++, std::uint64_t(detail::StreamRole::kScheduler)});
}

void LightDLCore::record_error(std::int64_t patient, std::uint32_t visit, const std::string& message) {
  errors_.push_back({patient, visit, message, now_s()});
  log("error: patient " + std::to_string(patient) + " visit " + std::to_string(visit) + ": " + message);
}

void LightDLCore::record_failure(PatientState& ps, std::int64_t patient, std::uint32_t visit, const std::string& message) {
  record_error(patient, visit, message);
  if (++ps.failures >= std::uint32_t(options_.max_failures()) && !ps.set_aside) {
    ps.set_aside = true;
    record_error(patient, visit, "set aside after " + std::to_string(ps.failures) + " failures");
  }
}

void LightDLCore::scheduler_main() {
  if (!options_.core_assignment().lightdl.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : options_.core_assignment().lightdl) CPU_SET(c, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  {
    Rng rng = decision_rng();
    std::vector<std::int64_t> first = scheduler_->initial_schedule(*this, rng);
    std::set<std::int64_t> seen;
    std::size_t k = 0;
    bool failed_start = false;
    const auto waiting = waiting_patients();
    for (std::int64_t id : first) {
      if (k >= slots_.size()) break;
      if (!seen.insert(id).second || std::find(waiting.begin(), waiting.end(), id) == waiting.end()) {
        log("initial_schedule: ignoring patient " + std::to_string(id) + " (unknown, repeated or not loadable)");
        continue;
      }
      if (start_visit(k, id)) ++k;
      else failed_start = true;
    }
    if (failed_start) fill_free_slots();  // others in place of those that could not start
  }
  const auto interval = std::chrono::duration<double>(options_.interval_resched());
  auto next_swap = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
  while (!stopping_) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}};
    bool all_pidfds = true;
    for (auto& s : slot_state_) {
      if (s->pid == 0) continue;
      if (s->pidfd >= 0) fds.push_back({s->pidfd, POLLIN, 0});
      else all_pidfds = false;
    }
    int timeout_ms = -1;
    if (!halted_ && !finished_ && !swap_pending_) {
      timeout_ms = detail::ms_until(next_swap);
    }
    if (!all_pidfds) timeout_ms = timeout_ms < 0 ? 100 : std::min(timeout_ms, 100);  // no pidfd: check often
    poll(fds.data(), fds.size(), timeout_ms);
    std::uint64_t drained;
    while (::read(wake_fd_, &drained, sizeof drained) > 0) {
    }
    if (stopping_) break;
    timespec cpu{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    scheduler_cpu_s_ = double(cpu.tv_sec) + 1e-9 * double(cpu.tv_nsec);

    bool freed = false;
    for (std::size_t k = 0; k < slot_state_.size(); ++k) {
      SlotState& s = *slot_state_[k];
      int status = 0;
      rusage usage{};
      if (s.pid != 0 && wait4(s.pid, &status, WNOHANG, &usage) == s.pid) {
        end_visit(k, status, false, usage);
        freed = true;
      }
    }
    if (freed && !halted_) fill_free_slots();

    if (!halted_ && std::chrono::steady_clock::now() >= next_swap) {
      bool store_empty;
      {
        std::lock_guard<std::mutex> g(consume_mu_);
        store_empty = stored_.empty();
      }
      // Swap only while the consumer is taking (something since the last swap, and a request
      // within the last second), and once it has taken all that the last swap moved to the
      // root: a paused consumer pauses the swapping, and its BigChunk reads, at once.
      // take() wakes this thread when that changes.
      const std::uint64_t delivered = delivered_total_.load();
      const bool consuming = now_s() - last_request_s_.load() < 1.0;
      if (store_empty && consuming && delivered != delivered_at_last_swap_) {
        swap_pending_ = false;
        delivered_at_last_swap_ = delivered;
        do_swap();
        next_swap = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
      } else {
        swap_pending_ = true;
      }
    }
    bool any_running = false;
    for (auto& s : slot_state_) any_running |= s->pid != 0;
    if (!any_running && !finished_ && (halted_ || waiting_patients().empty())) {
      finished_ = true;
      log(halted_ ? "halted by schedule()" : "every patient is finished or set aside");
      bell_->ring();
    }
  }
  stop_slots();
}

bool LightDLCore::start_visit(std::size_t k, std::int64_t id) {
  detail::VisitSpec spec;
  {
    std::lock_guard<std::mutex> g(mu_);
    PatientState& ps = *patients_.at(id);
    spec.patient = *ps.patient;
    spec.visit = ps.schedcount++;
    spec.checkpoint = ps.checkpoint;
    spec.message = ps.message;
    spec.reads_before = ps.bigchunks;
    spec.failed_before = ps.bigchunks_failed;
  }
  CollectorSlot& cs = *slots_[k];
  cs.error.clear();
  SlotState fresh;  // published under mu_ below: stats() and the queries read it from other threads
  std::string ignored;
  fresh.head_at_start = cs.ring.published();
  fresh.checkpoint_at_start = cs.checkpoint.read(&ignored);
  fresh.status_at_start = cs.status.read(&ignored);
  fresh.at_start = detail::CounterSnapshot::of(*cs.counters);
  const detail::CollectorEnv env{&options_, &make_loader_, &make_collector_, &cs, log_fd_};
  detail::ChildSetup setup;
  setup.cores = options_.core_assignment().smallchunkcollectors;
  setup.nice_increment = options_.collector_nice();
  setup.own_process_group = true;
  try {
    fresh.pid = detail::spawn_child(setup, [&] { return detail::run_collector(spec, env); });
  } catch (const std::exception& e) {
    // No process (fork failed): a failure of the patient's, so that retrying ends.
    std::lock_guard<std::mutex> g(mu_);
    record_failure(*patients_.at(id), id, spec.visit, e.what());
    return false;
  }
  fresh.pidfd = detail::open_pidfd(fresh.pid);
  fresh.patient = id;
  fresh.visit = spec.visit;
  {
    std::lock_guard<std::mutex> g(mu_);
    *slot_state_[k] = fresh;
    patients_.at(id)->slot = int(k);
  }
  log("patient " + std::to_string(id) + " visit " + std::to_string(spec.visit) + " loaded on collector " +
      std::to_string(k) + " (pid " + std::to_string(fresh.pid) + ")");
  return true;
}

void LightDLCore::drain_ring(std::size_t k) {
  Ring& ring = slots_[k]->ring;
  std::lock_guard<std::mutex> g(consume_mu_);
  while (ring.available() > 0) {
    const std::uint8_t* s = ring.front();
    const SlotHeader& h = Ring::header(s);
    Stored item;
    item.bytes.resize(sizeof(SlotHeader) + h.info_len + h.data_len);
    std::memcpy(item.bytes.data(), s, sizeof(SlotHeader));
    std::memcpy(item.bytes.data() + sizeof(SlotHeader), Ring::info(s), h.info_len);
    std::memcpy(item.bytes.data() + sizeof(SlotHeader) + h.info_len, ring.data(s), h.data_len);
    stored_.push_back(std::move(item));
    ring.pop();
  }
}

void LightDLCore::end_visit(std::size_t k, int status, bool requested, const rusage& usage) {
  SlotState& st = *slot_state_[k];
  CollectorSlot& cs = *slots_[k];
  drain_ring(k);  // nothing the collector produced is lost
  if (st.pidfd >= 0) ::close(st.pidfd);
  std::string checkpoint, patient_status, error;
  const std::uint32_t cv = cs.checkpoint.read(&checkpoint);
  const std::uint32_t sv = cs.status.read(&patient_status);
  cs.error.read(&error);
  {
    std::lock_guard<std::mutex> g(mu_);
    PatientState& ps = *patients_.at(st.patient);
    ps.produced += st.produced(cs);
    const detail::CounterSnapshot visit = st.counted(cs);
    ps.bigchunks += visit.bigchunks;
    ps.bigchunks_failed += visit.failed;
    ps.read_ns += visit.read_ns;
    if (cv != st.checkpoint_at_start) ps.checkpoint = parse_or_null(checkpoint);
    if (sv != st.status_at_start) ps.status = parse_or_null(patient_status);
    ps.slot = -1;
    ended_cpu_s_ += detail::cpu_seconds(usage);
    std::string failure;
    if (WIFEXITED(status)) {
      const int code = WEXITSTATUS(status);
      if (code == detail::kExitFinished) {
        ps.finished = true;
        log("patient " + std::to_string(st.patient) + " finished (no more BigChunks)");
      } else if (code == detail::kExitFailed) {
        failure = error.empty() ? "SmallChunkCollector failed" : error;
      } else if (code != detail::kExitOk) {
        failure = "SmallChunkCollector " + detail::describe_status(status);
      }
    } else if (!(requested && WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL))) {
      failure = "SmallChunkCollector " + detail::describe_status(status);
    }
    if (!failure.empty()) record_failure(ps, st.patient, st.visit, failure);
    st = SlotState{};
  }
  bell_->ring();
}

void LightDLCore::fill_free_slots() {
  for (std::size_t k = 0; k < slot_state_.size(); ++k) {
    // A start that fails counts against its patient, so this ends (set aside, or none left).
    while (slot_state_[k]->pid == 0) {
      Rng rng = decision_rng();
      const auto id = scheduler_->replacement(*this, rng);
      if (!id) return;
      const auto waiting = waiting_patients();
      if (std::find(waiting.begin(), waiting.end(), *id) == waiting.end()) {
        log("replacement(): patient " + std::to_string(*id) + " cannot be loaded; slot left free");
        return;
      }
      start_visit(k, *id);
    }
  }
}

void LightDLCore::do_swap() {
  Rng rng = decision_rng();
  const SchedDecision d = scheduler_->schedule(*this, rng);
  if (d.kind == SchedDecision::Kind::Keep) return;
  if (d.kind == SchedDecision::Kind::Halt) {
    halted_ = true;
    stop_slots();
    return;
  }
  int k = -1;
  bool loadable = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto out = patients_.find(d.remove);
    auto in = patients_.find(d.load);
    if (out != patients_.end()) k = out->second->slot;
    loadable = in != patients_.end() && in->second->slot < 0 && !in->second->finished && !in->second->set_aside;
  }
  if (k < 0 || !loadable) {
    log("schedule(): cannot swap patient " + std::to_string(d.remove) + " for " + std::to_string(d.load) + "; ignored");
    return;
  }
  SlotState& st = *slot_state_[std::size_t(k)];
  rusage usage{};
  const int status = detail::stop_child(st.pid, st.pidfd, kStopGraceMs, &usage);
  end_visit(std::size_t(k), status, true, usage);
  if (!start_visit(std::size_t(k), d.load)) fill_free_slots();
  std::lock_guard<std::mutex> g(mu_);
  ++swaps_;
}

void LightDLCore::stop_slots() {
  // Signal every collector first, so their grace periods overlap.
  for (auto& s : slot_state_)
    if (s->pid != 0) kill(s->pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopGraceMs);
  for (std::size_t k = 0; k < slot_state_.size(); ++k) {
    SlotState& s = *slot_state_[k];
    if (s.pid == 0) continue;
    int status = 0;
    rusage usage{};
    const int left = detail::ms_until(deadline);
    if (!detail::wait_child(s.pid, s.pidfd, left, &status, nullptr, &usage)) {
      kill(s.pid, SIGKILL);
      detail::wait_child(s.pid, s.pidfd, -1, &status, nullptr, &usage);
    }
    end_visit(k, status, true, usage);
  }
}

std::size_t LightDLCore::take(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records) {
  const std::size_t bytes = options_.patch_shape().bytes();
  std::size_t n = 0;
  auto emit = [&](const SlotHeader& h, const std::uint8_t* info, const std::uint8_t* data) {
    std::memcpy(out + n * bytes, data, std::min<std::size_t>(bytes, h.data_len));
    if (records) {
      ChunkRecord r;
      r.patient = h.patient;
      r.visit = h.visit;
      r.bigchunk_number = h.bigchunk_number;
      r.call_count = h.call_count;
      r.x = h.x, r.y = h.y, r.level = h.level;
      r.height = h.height, r.width = h.width, r.channels = h.channels;
      r.mpp = h.mpp;
      r.bigchunk = {h.bigchunk_x, h.bigchunk_y, h.bigchunk_level, h.bigchunk_width, h.bigchunk_height, 0.0};
      r.info_json.assign(reinterpret_cast<const char*>(info), h.info_len);
      records->push_back(std::move(r));
    }
    ++n;
  };
  std::map<std::int64_t, std::uint64_t> delivered, skipped;
  // A report of a skipped region is set aside, not put in the batch.
  auto take_one = [&](const SlotHeader& h, const std::uint8_t* info, const std::uint8_t* data) {
    if (h.data_len > 0) {
      ++delivered[h.patient];
      return emit(h, info, data);
    }
    ++skipped[h.patient];
    SkippedRegion r{h.x, h.y, h.level, h.width, h.height, std::string(reinterpret_cast<const char*>(info), h.info_len)};
    skipped_.push_back({h.patient, h.visit, std::move(r)});
  };
  {
    std::lock_guard<std::mutex> g(consume_mu_);
    while (n < max && !stored_.empty()) {
      const std::uint8_t* b = stored_.front().bytes.data();
      const SlotHeader& h = *reinterpret_cast<const SlotHeader*>(b);
      take_one(h, b + sizeof(SlotHeader), b + sizeof(SlotHeader) + h.info_len);
      stored_.pop_front();
    }
    // One SmallChunk from each ring in turn, so that a batch mixes the loaded patients.
    for (bool progress = true; n < max && progress;) {
      progress = false;
      for (std::size_t i = 0; i < slots_.size() && n < max; ++i) {
        Ring& ring = slots_[(next_ring_ + i) % slots_.size()]->ring;
        if (ring.available() == 0) continue;
        const std::uint8_t* s = ring.front();
        take_one(Ring::header(s), Ring::info(s), ring.data(s));
        ring.pop();
        progress = true;
      }
      next_ring_ = (next_ring_ + 1) % slots_.size();
    }
  }
  if (!delivered.empty() || !skipped.empty()) {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [id, c] : delivered) patients_.at(id)->delivered += c;
    for (auto& [id, c] : skipped) patients_.at(id)->skipped += c;
  }
  delivered_total_ += n;
  if (n > 0 && swap_pending_) wake_scheduler();  // a postponed swap may go ahead now
  return n;
}

std::size_t LightDLCore::next_batch(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records) {
  return next_batch_for(out, max, records, -1);
}

std::size_t LightDLCore::next_batch_for(std::uint8_t* out, std::size_t max, std::vector<ChunkRecord>* records,
                                        double timeout_s) {
  start();
  last_request_s_ = now_s();
  if (records) records->clear();
  const std::size_t bytes = options_.patch_shape().bytes();
  const auto begin = std::chrono::steady_clock::now();
  double waited = 0;
  std::size_t n = 0;
  while (n < max) {
    const std::uint32_t snap = bell_->snapshot();
    const bool was_finished = finished_;
    n += take(out + n * bytes, max - n, records);
    if (n == max || was_finished) break;  // finished before the take: nothing more will come
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    if (timeout_s >= 0 && elapsed >= timeout_s) break;
    const int wait_ms = timeout_s < 0 ? 1000 : int(std::max(1.0, (timeout_s - elapsed) * 1000));
    const auto w0 = std::chrono::steady_clock::now();
    bell_->wait(snap, std::min(wait_ms, 1000));
    waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  }
  std::lock_guard<std::mutex> g(mu_);
  consumer_wait_s_ += waited;
  return n;
}

bool LightDLCore::finished() const { return finished_; }

void LightDLCore::send_message(std::int64_t patient, const nlohmann::json& message) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = patients_.find(patient);
  if (it == patients_.end()) throw Error("send_message: no patient " + std::to_string(patient));
  it->second->message = message;
}

// The live value while the patient is loaded (once its collector has set one), else the last
// value kept from an earlier visit.
nlohmann::json LightDLCore::live_or_kept(std::int64_t patient, const char* what, bool checkpoint) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = patients_.find(patient);
  if (it == patients_.end()) throw Error(std::string(what) + ": no patient " + std::to_string(patient));
  const PatientState& ps = *it->second;
  if (ps.slot >= 0) {
    const CollectorSlot& cs = *slots_[std::size_t(ps.slot)];
    const SlotState& st = *slot_state_[std::size_t(ps.slot)];
    std::string s;
    const std::uint32_t v = checkpoint ? cs.checkpoint.read(&s) : cs.status.read(&s);
    if (v != (checkpoint ? st.checkpoint_at_start : st.status_at_start)) return parse_or_null(s);
  }
  return checkpoint ? ps.checkpoint : ps.status;
}

nlohmann::json LightDLCore::get_checkpoint(std::int64_t patient) const { return live_or_kept(patient, "get_checkpoint", true); }
nlohmann::json LightDLCore::get_status(std::int64_t patient) const { return live_or_kept(patient, "get_status", false); }

std::vector<PatientError> LightDLCore::errors() const {
  std::lock_guard<std::mutex> g(mu_);
  return errors_;
}

std::vector<SkippedReport> LightDLCore::skipped() const {
  std::lock_guard<std::mutex> g(consume_mu_);
  return skipped_;
}

std::vector<std::int64_t> LightDLCore::loaded_patients() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::int64_t> out;
  for (auto& [id, ps] : patients_)
    if (ps->slot >= 0) out.push_back(id);
  return out;
}

std::vector<std::int64_t> LightDLCore::waiting_patients() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::int64_t> out;
  for (auto& [id, ps] : patients_)
    if (ps->slot < 0 && !ps->finished && !ps->set_aside) out.push_back(id);
  return out;
}

std::uint32_t LightDLCore::schedcount(std::int64_t patient) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = patients_.find(patient);
  return it == patients_.end() ? 0 : it->second->schedcount;
}

LoaderStats LightDLCore::stats() const {
  LoaderStats s;
  {
    // Taken alone, before mu_: no lock order to keep with the consumer's.
    std::lock_guard<std::mutex> g(consume_mu_);
    s.root_queue = stored_.size();
  }
  std::lock_guard<std::mutex> g(mu_);
  for (auto& [id, ps] : patients_) {
    PatientStats p;
    p.patient = id;
    p.visits = ps->schedcount;
    p.produced = ps->produced;
    p.delivered = ps->delivered;
    p.skipped = ps->skipped;
    p.bigchunks = ps->bigchunks;
    p.bigchunk_read_s = double(ps->read_ns) * 1e-9;
    if (ps->slot >= 0) {  // the running visit so far
      const CollectorSlot& cs = *slots_[std::size_t(ps->slot)];
      const SlotState& st = *slot_state_[std::size_t(ps->slot)];
      p.produced += st.produced(cs);
      const detail::CounterSnapshot visit = st.counted(cs);
      p.bigchunks += visit.bigchunks;
      p.bigchunk_read_s += double(visit.read_ns) * 1e-9;
    }
    p.failures = ps->failures;
    p.loaded = ps->slot >= 0;
    p.finished = ps->finished;
    p.set_aside = ps->set_aside;
    s.produced += p.produced;
    s.delivered += p.delivered;
    s.bigchunks += p.bigchunks;
    s.bigchunk_read_s += p.bigchunk_read_s;
    s.patients.push_back(p);
  }
  s.swaps = swaps_;
  s.errors = errors_.size();
  s.consumer_wait_s = consumer_wait_s_;
  for (auto& slot : slots_) {
    s.ring_fill += slot->ring.available();
    s.ring_capacity += slot->ring.capacity();
  }
  s.uptime_s = now_s();
  // Live processes from /proc (a loader's CPU joins its collector's only when reaped).
  s.children_cpu_s = ended_cpu_s_;
  for (std::size_t k = 0; k < slot_state_.size(); ++k) {
    if (slot_state_[k]->pid == 0) continue;
    s.children_cpu_s += detail::process_cpu_seconds(slot_state_[k]->pid);
    if (const pid_t loader = slots_[k]->counters->loader_pid.load()) s.children_cpu_s += detail::process_cpu_seconds(loader);
  }
  s.tree_cpu_s = s.children_cpu_s + scheduler_cpu_s_.load();
  return s;
}

std::vector<pid_t> LightDLCore::collector_pids() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<pid_t> out;
  for (auto& s : slot_state_)
    if (s->pid != 0) out.push_back(s->pid);
  return out;
}

std::vector<pid_t> LightDLCore::loader_pids() const {
  std::vector<pid_t> out;
  for (auto& s : slots_)
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
