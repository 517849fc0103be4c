#pragma once
// Which patients are loaded, PyDmed's initial_schedule() and schedule(), as a policy object
// the loader calls from its scheduler thread. Override any of the hooks.
#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "pydmed/random.hpp"

namespace pydmed {

class Dataset;
struct Options;

// One patient's progress, as stats() and schedulers see it.
struct PatientStats {
  std::int64_t patient = 0;
  std::uint32_t visits = 0;
  std::uint64_t produced = 0, delivered = 0;  // SmallChunks (reports of skipped regions not counted)
  std::uint64_t skipped = 0;                  // reports of skipped regions taken by the consumer
  std::uint64_t bigchunks = 0;
  double bigchunk_read_s = 0;
  std::uint32_t failures = 0;
  bool loaded = false, finished = false, set_aside = false;
};

// What a scheduler sees of its loader: the dataset, the options and where each patient stands.
class SchedulerView {
 public:
  virtual ~SchedulerView() = default;
  virtual const Dataset& dataset() const = 0;
  virtual const Options& options() const = 0;
  virtual std::vector<std::int64_t> loaded_patients() const = 0;
  // Loadable: not loaded, finished or set aside.
  virtual std::vector<std::int64_t> waiting_patients() const = 0;
  virtual std::uint32_t schedcount(std::int64_t patient) const = 0;  // times loaded so far
  virtual std::uint64_t swaps() const = 0;
  virtual std::vector<PatientStats> patient_stats() const = 0;  // in id order
};

struct SchedDecision {
  enum class Kind { Swap, Keep, Halt };
  Kind kind = Kind::Keep;
  std::int64_t remove = -1, load = -1;  // patient ids, for Swap
  static SchedDecision swap(std::int64_t remove, std::int64_t load) { return {Kind::Swap, remove, load}; }
  static SchedDecision keep() { return {}; }
  // The work is done: no more loading; the loader ends once what was produced is delivered.
  static SchedDecision halt() { return {Kind::Halt, -1, -1}; }
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // The patients loaded first: distinct, at most Options::num_bigchunkloaders. Default: a
  // random choice among those that can be loaded.
  virtual std::vector<std::int64_t> initial_schedule(const SchedulerView& dl, Rng& rng);
  // Seconds from one swap (or the start) to the next call of schedule(); nullopt: never (the
  // loaded patients change only as they finish). Asked after each swap. Default:
  // Options::interval_resched. The loader also holds a due swap back while the consumer is
  // not taking, so a paused training loop pauses the reading.
  virtual std::optional<double> swap_interval(const SchedulerView& dl);
  // When a swap is due. Default (PyDmed's): swap out a random loaded patient for a waiting
  // one, with weights that strongly favour patients never scheduled.
  virtual SchedDecision schedule(const SchedulerView& dl, Rng& rng);
  // A collector slot came free early (its patient finished or failed): which waiting patient to
  // load there, if any. Default: the same weighting as schedule().
  virtual std::optional<std::int64_t> replacement(const SchedulerView& dl, Rng& rng);
  // The policy's own progress, saved in LightDLCore::state() (null: none) and handed back to a
  // resumed loader's scheduler before it starts. state() is called from the thread that asks
  // for the loader's state while the hooks above run on the scheduler thread: guard what both
  // touch.
  virtual nlohmann::json state() const { return nullptr; }
  virtual void restore(const nlohmann::json& /*state*/) {}

 protected:
  // PyDmed's weighting: 1 / (1 + times scheduled), and 10^7 for the never scheduled.
  static std::optional<std::int64_t> pick_waiting(const SchedulerView& dl, Rng& rng);
};

}  // namespace pydmed
