#pragma once
// Which patients are loaded, PyDmed's initial_schedule() and schedule(), as a policy object
// the loader calls from its scheduler thread. Override any of the three.
#include <cstdint>
#include <optional>
#include <vector>

#include "pydmed/random.hpp"

namespace pydmed {

class LightDLCore;

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
  virtual std::vector<std::int64_t> initial_schedule(const LightDLCore& dl, Rng& rng);
  // Called every interval_resched seconds. Default (PyDmed's): swap out a random loaded patient
  // for a waiting one, with weights that strongly favour patients never scheduled.
  virtual SchedDecision schedule(const LightDLCore& dl, Rng& rng);
  // A collector slot came free early (its patient finished or failed): which waiting patient to
  // load there, if any. Default: the same weighting as schedule().
  virtual std::optional<std::int64_t> replacement(const LightDLCore& dl, Rng& rng);

 protected:
  // PyDmed's weighting: 1 / (1 + times scheduled), and 10^7 for the never scheduled.
  static std::optional<std::int64_t> pick_waiting(const LightDLCore& dl, Rng& rng);
};

}  // namespace pydmed
