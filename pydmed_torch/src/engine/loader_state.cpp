#include "pydmed/engine/loader_state.hpp"

#include <stdexcept>
#include <string>

#include "pydmed/error.hpp"

namespace pydmed {

namespace {
constexpr const char* kFormat = "pydmed-loader-state";
constexpr int kVersion = 1;

std::int64_t patient_id(const std::string& key) {
  std::size_t used = 0;
  std::int64_t id = 0;
  try {
    id = std::stoll(key, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || used != key.size()) throw Error("loader state: patient id '" + key + "' is not a number");
  return id;
}
}  // namespace

void LoaderState::mark_finished(std::int64_t patient) {
  if (auto it = patients.find(patient); it != patients.end()) it->second.finished = true;
}

void LoaderState::reset(std::int64_t patient) { set_position(patient, nullptr); }

void LoaderState::set_position(std::int64_t patient, nlohmann::json checkpoint) {
  auto it = patients.find(patient);
  if (it == patients.end()) return;
  PatientProgress& p = it->second;
  p.checkpoint = std::move(checkpoint);
  p.finished = false;  // finished producing is not finished delivering: its loader will say
  p.status = nullptr;
  p.set_aside = false;
  p.failures = 0;
}

nlohmann::json LoaderState::to_json() const {
  nlohmann::json ps = nlohmann::json::object();
  for (const auto& [id, p] : patients) {
    ps[std::to_string(id)] = {{"visits", p.visits},
                              {"failures", p.failures},
                              {"finished", p.finished},
                              {"set_aside", p.set_aside},
                              {"bigchunks", p.bigchunks},
                              {"bigchunks_failed", p.bigchunks_failed},
                              {"checkpoint", p.checkpoint},
                              {"status", p.status}};
  }
  return {{"format", kFormat},
          {"version", kVersion},
          {"seed", seed},
          {"rank", rank},
          {"world_size", world_size},
          {"loader", {{"swaps", swaps}, {"decisions", decisions}, {"patients", std::move(ps)}}},
          {"scheduler", scheduler}};
}

LoaderState LoaderState::from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("format", "") != kFormat) {
    throw Error(std::string("restore: not a loader state (no \"format\": \"") + kFormat + "\")");
  }
  if (j.value("version", 0) != kVersion) {
    throw Error("restore: loader state version " + j.value("version", nlohmann::json()).dump() + " is not " +
                std::to_string(kVersion));
  }
  LoaderState s;
  try {
    s.seed = j.value("seed", std::uint64_t(0));
    s.rank = j.value("rank", 0);
    s.world_size = j.value("world_size", 1);
    const nlohmann::json& l = j.at("loader");
    s.swaps = l.at("swaps").get<std::uint64_t>();
    s.decisions = l.at("decisions").get<std::uint64_t>();
    for (const auto& [key, p] : l.at("patients").items()) {
      PatientProgress& pp = s.patients[patient_id(key)];
      pp.visits = p.value("visits", std::uint32_t(0));
      pp.failures = p.value("failures", std::uint32_t(0));
      pp.finished = p.value("finished", false);
      pp.set_aside = p.value("set_aside", false);
      pp.bigchunks = p.value("bigchunks", std::uint64_t(0));
      pp.bigchunks_failed = p.value("bigchunks_failed", std::uint64_t(0));
      pp.checkpoint = p.value("checkpoint", nlohmann::json());
      pp.status = p.value("status", nlohmann::json());
    }
    s.scheduler = j.value("scheduler", nlohmann::json());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("loader state: ") + e.what());
  }
  return s;
}

}  // namespace pydmed
