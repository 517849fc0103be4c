#pragma once
// A loader's resumable state, typed: what LightDLCore::state() saves and restore() takes. Its
// JSON (to_json/from_json, the one place the keys are spelt) is
//   {"format": "pydmed-loader-state", "version": 1, "seed", "rank", "world_size",
//    "loader": {"swaps", "decisions", "patients": {"<id>": {"visits", "failures", "finished",
//               "set_aside", "bigchunks", "bigchunks_failed", "checkpoint", "status"}}},
//    "scheduler": <Scheduler::state()>}
#include <cstdint>
#include <map>

#include <nlohmann/json.hpp>

namespace pydmed {

// One patient's part: how often it was loaded and failed, whether it is done, and what its
// collector keeps between visits (its checkpoint, the user's JSON, and its last status).
struct PatientProgress {
  std::uint32_t visits = 0, failures = 0;
  bool finished = false, set_aside = false;
  std::uint64_t bigchunks = 0, bigchunks_failed = 0;
  nlohmann::json checkpoint, status;
};

struct LoaderState {
  std::uint64_t seed = 0;
  int rank = 0, world_size = 1;
  std::uint64_t swaps = 0, decisions = 0;
  std::map<std::int64_t, PatientProgress> patients;
  nlohmann::json scheduler;  // the scheduler's own (null: none)

  // Operations a resuming consumer applies (ids this state lacks are ignored: another rank's).
  // Never loaded again.
  void mark_finished(std::int64_t patient);
  // Served again from the start: no checkpoint, not finished, no status, not set aside.
  void reset(std::int64_t patient);
  // Served from `checkpoint` on (a sliding window's delivered position, say): not finished, no
  // status, and a slide set aside is tried again (its error was that run's).
  void set_position(std::int64_t patient, nlohmann::json checkpoint);

  nlohmann::json to_json() const;
  // Error in one line: not a loader state, another version, a malformed field.
  static LoaderState from_json(const nlohmann::json& state);
};

}  // namespace pydmed
