#pragma once
// Private: what the root knows of each patient (visits, failures, checkpoints, statuses,
// messages, counts) and the errors so far. It is also the scheduler's view of the loader.
//
// Threads: every member is guarded by mu_. The scheduler thread starts and ends visits; the
// consumer adds what it delivered; any thread queries. The live checkpoint and status of a
// running visit are read from its slot's shared memory (lock-free there) under mu_, so the
// visit cannot end in between.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/collector_process.hpp"
#include "engine/collector_slot.hpp"
#include "pydmed/engine/light_dl_core.hpp"
#include "pydmed/engine/loader_state.hpp"
#include "pydmed/engine/scheduler.hpp"

namespace pydmed::detail {

// Where a running visit's slot stood when it started: its counts this visit are read against it.
struct VisitStart {
  std::size_t slot = 0;
  pid_t pid = 0;
  std::uint32_t visit = 0;
  std::uint32_t head = 0, checkpoint = 0, status = 0;  // ring publications, text versions
  CounterSnapshot counters;

  static VisitStart of(std::size_t slot, const CollectorSlot& cs);
  CounterSnapshot counted(const CollectorSlot& cs) const { return CounterSnapshot::of(*cs.counters).since(counters); }
  // SmallChunks this visit published: ring slots less reports of skipped regions. The
  // collector counts a report after publishing its slot (a release), and reports are read
  // first here (an acquire), so the slots seen are never fewer than the reports.
  std::uint64_t produced(const CollectorSlot& cs) const;
};

// How a visit's collector ended, as the pool classified it.
struct VisitEnd {
  bool finished = false;  // the patient has no more BigChunks
  std::string failure;    // counts against the patient; "" when none
  double cpu_s = 0;       // the collector's and its loaders'
};

class PatientRegistry : public SchedulerView {
 public:
  // dataset, options and slots outlive the registry (the core owns them).
  // `log` writes a line to the loader's log (the core's: the registry says what happened, not
  // where it is written).
  PatientRegistry(const Dataset& dataset, const Options& options,
                  const std::vector<std::unique_ptr<CollectorSlot>>& slots,
                  std::function<void(const std::string&)> log, std::chrono::steady_clock::time_point t0);

  // The scheduler's view.
  const Dataset& dataset() const override { return dataset_; }
  const Options& options() const override { return options_; }
  std::vector<std::int64_t> loaded_patients() const override;
  std::vector<std::int64_t> waiting_patients() const override;
  std::uint32_t schedcount(std::int64_t patient) const override;
  std::uint64_t swaps() const override;
  std::vector<PatientStats> patient_stats() const override;
  bool loadable(std::int64_t patient) const;

  // Visits (scheduler thread). begin_visit counts a schedule and hands what the collector needs;
  // running() records the started process; end_visit folds the visit's counts, checkpoint and
  // status into the patient's and counts its failure.
  VisitSpec begin_visit(std::int64_t patient);
  void running(std::int64_t patient, const VisitStart& start);
  void end_visit(std::int64_t patient, const VisitEnd& end);
  // An error that counts against the patient; sets it aside after Options::max_failures.
  void record_failure(std::int64_t patient, std::uint32_t visit, const std::string& message);
  void count_swap();
  std::uint64_t next_decision();  // numbers the scheduler's random streams

  // The consumer's side.
  void count_delivered(const std::map<std::int64_t, std::uint64_t>& delivered,
                       const std::map<std::int64_t, std::uint64_t>& skipped, double waited_s);

  // Users.
  void send_message(std::int64_t patient, const nlohmann::json& message);
  nlohmann::json checkpoint(std::int64_t patient) const;
  nlohmann::json status(std::int64_t patient) const;
  std::vector<PatientError> errors() const;
  std::vector<pid_t> collector_pids() const;
  // Fills the per-patient stats and the totals they make, swaps, errors, the consumer's wait and
  // the ended processes' CPU.
  void fill(LoaderStats* stats) const;

  // Resumable: swaps, decisions and each patient's visits, failures, checkpoint and status (the
  // live ones of running visits). restore() takes such a state before the loader starts;
  // patients it does not name start fresh, ids it names that this dataset lacks are ignored.
  void save(LoaderState* state) const;  // swaps, decisions, patients
  void restore(const LoaderState& state);

 private:
  struct PatientState {
    const Patient* patient = nullptr;
    PatientProgress kept;  // what a saved state carries (the checkpoint and status of ended visits)
    std::optional<VisitStart> running;
    nlohmann::json message;
    std::uint64_t produced = 0, delivered = 0, skipped = 0, read_ns = 0;
  };
  // The one rule for who may be loaded.
  static bool is_loadable(const PatientState& ps) { return !ps.running && !ps.kept.finished && !ps.kept.set_aside; }
  PatientState& at(std::int64_t patient, const char* who);  // mu_ held
  const PatientState& at(std::int64_t patient, const char* who) const;
  void record_error(std::int64_t patient, std::uint32_t visit, const std::string& message);  // mu_ held
  void fail(PatientState& ps, std::uint32_t visit, const std::string& message);              // mu_ held
  nlohmann::json live_or_kept(std::int64_t patient, bool checkpoint) const;
  nlohmann::json live_or_kept(const PatientState& ps, bool checkpoint) const;  // mu_ held
  PatientStats stats_of(const PatientState& ps) const;                         // mu_ held

  const Dataset& dataset_;
  const Options& options_;
  const std::vector<std::unique_ptr<CollectorSlot>>& slots_;
  const std::function<void(const std::string&)> log_;
  const std::chrono::steady_clock::time_point t0_;  // the loader's start: errors' times count from it

  mutable std::mutex mu_;
  std::map<std::int64_t, PatientState> patients_;
  std::vector<PatientError> errors_;
  std::uint64_t swaps_ = 0, decisions_ = 0;
  double consumer_wait_s_ = 0, ended_cpu_s_ = 0;
};

}  // namespace pydmed::detail
