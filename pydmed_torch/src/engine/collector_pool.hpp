#pragma once
// Private: the collector processes, one per slot, as the scheduler thread runs them: starting a
// visit's collector, watching and reaping those that end, stopping them, and saying how each
// ended. Every member is the scheduler thread's alone (no lock); what other threads may ask
// (pids, a visit's counts) is in the PatientRegistry.
#include <poll.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/collector_process.hpp"
#include "engine/collector_slot.hpp"
#include "engine/patient_registry.hpp"

namespace pydmed::detail {

// A visit whose collector has ended and been reaped; its slot is free again.
struct EndedVisit {
  std::size_t slot = 0;
  std::int64_t patient = -1;
  VisitEnd end;
};

class CollectorPool {
 public:
  // The factories, options and slots outlive the pool (the core owns them).
  CollectorPool(const Options& options, const LoaderFactory& make_loader, const CollectorFactory& make_collector,
                const std::vector<std::unique_ptr<CollectorSlot>>& slots, int log_fd);

  std::size_t size() const { return running_.size(); }
  bool busy(std::size_t slot) const { return running_[slot].pid != 0; }
  bool any_busy() const;
  std::int64_t patient(std::size_t slot) const { return running_[slot].patient; }  // -1: free

  // Forks slot k's collector for the visit: where the slot stood before it (throws when no
  // process could be made).
  VisitStart start(std::size_t slot, const VisitSpec& spec);
  // The running collectors' pidfds, to poll; false when some have none (then poll must time out).
  bool watch(std::vector<pollfd>* fds) const;
  // The collectors that ended on their own since the last call.
  std::vector<EndedVisit> reap();
  // Ends slot k's collector (SIGTERM, SIGKILL after grace_ms).
  EndedVisit stop(std::size_t slot, int grace_ms);
  // Ends them all (their grace periods overlap), handing each to `ended` as it is reaped.
  void stop_all(int grace_ms, const std::function<void(const EndedVisit&)>& ended);

 private:
  struct Running {
    pid_t pid = 0;
    int pidfd = -1;
    std::int64_t patient = -1;
  };
  // How the collector in slot k ended; `requested`: the root asked it to (a swap, a stop).
  EndedVisit ended(std::size_t slot, int status, bool requested, const rusage& usage);

  const Options& options_;
  const LoaderFactory& make_loader_;
  const CollectorFactory& make_collector_;
  const std::vector<std::unique_ptr<CollectorSlot>>& slots_;
  const int log_fd_;
  std::vector<Running> running_;
};

}  // namespace pydmed::detail
