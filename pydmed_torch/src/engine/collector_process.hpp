#pragma once
// Private: the body of a SmallChunkCollector process, and of the BigChunkLoader it forks.
#include <functional>
#include <memory>

#include "engine/collector_slot.hpp"
#include "pydmed/engine/user_code.hpp"

namespace pydmed::detail {

// Everything a visit needs, copied before the fork so the child reads no shared root state.
struct VisitSpec {
  Patient patient;
  std::uint32_t visit = 0;
  nlohmann::json checkpoint;
  nlohmann::json message;
  // The patient's BigChunk reads in earlier visits, and how many came back wholly damaged:
  // whether most of its reads fail is the patient's, not one visit's.
  std::uint64_t reads_before = 0, failed_before = 0;
};

struct CollectorEnv {
  const Options* options;
  const LoaderFactory* make_loader;
  const CollectorFactory* make_collector;
  CollectorSlot* slot;
  int log_fd;
};

// Runs in the collector process; returns its exit status (ChildExit).
int run_collector(const VisitSpec& visit, const CollectorEnv& env);

}  // namespace pydmed::detail
