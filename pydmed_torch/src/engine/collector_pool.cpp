#include "engine/collector_pool.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "engine/process.hpp"

namespace pydmed::detail {

CollectorPool::CollectorPool(const Options& options, const LoaderFactory& make_loader,
                             const CollectorFactory& make_collector,
                             const std::vector<std::unique_ptr<CollectorSlot>>& slots, int log_fd)
    : options_(options),
      make_loader_(make_loader),
      make_collector_(make_collector),
      slots_(slots),
      log_fd_(log_fd),
      running_(std::size_t(options.num_bigchunkloaders())) {}

bool CollectorPool::any_busy() const {
  for (const Running& r : running_)
    if (r.pid != 0) return true;
  return false;
}

VisitStart CollectorPool::start(std::size_t k, const VisitSpec& spec) {
  CollectorSlot& cs = *slots_[k];
  cs.error.clear();
  VisitStart start = VisitStart::of(k, cs);
  const CollectorEnv env{&options_, &make_loader_, &make_collector_, &cs, log_fd_};
  ChildSetup setup;
  setup.cores = options_.core_assignment().smallchunkcollectors;
  setup.nice_increment = options_.collector_nice();
  setup.own_process_group = true;
  start.pid = spawn_child(setup, [&] { return run_collector(spec, env); });
  start.visit = spec.visit;
  running_[k] = {start.pid, open_pidfd(start.pid), spec.patient.int_uniqueid};
  return start;
}

bool CollectorPool::watch(std::vector<pollfd>* fds) const {
  bool all = true;
  for (const Running& r : running_) {
    if (r.pid == 0) continue;
    if (r.pidfd >= 0)
      fds->push_back({r.pidfd, POLLIN, 0});
    else
      all = false;
  }
  return all;
}

std::vector<EndedVisit> CollectorPool::reap() {
  std::vector<EndedVisit> out;
  for (std::size_t k = 0; k < running_.size(); ++k) {
    int status = 0;
    rusage usage{};
    if (running_[k].pid != 0 && wait4(running_[k].pid, &status, WNOHANG, &usage) == running_[k].pid) {
      out.push_back(ended(k, status, false, usage));
    }
  }
  return out;
}

EndedVisit CollectorPool::stop(std::size_t k, int grace_ms) {
  rusage usage{};
  const int status = stop_child(running_[k].pid, running_[k].pidfd, grace_ms, &usage);
  return ended(k, status, true, usage);
}

void CollectorPool::stop_all(int grace_ms, const std::function<void(const EndedVisit&)>& on_end) {
  for (const Running& r : running_)
    if (r.pid != 0) kill(r.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  for (std::size_t k = 0; k < running_.size(); ++k) {
    Running& r = running_[k];
    if (r.pid == 0) continue;
    int status = 0;
    rusage usage{};
    if (!wait_child(r.pid, r.pidfd, ms_until(deadline), &status, nullptr, &usage)) {
      kill(r.pid, SIGKILL);
      wait_child(r.pid, r.pidfd, -1, &status, nullptr, &usage);
    }
    on_end(ended(k, status, true, usage));
  }
}

EndedVisit CollectorPool::ended(std::size_t k, int status, bool requested, const rusage& usage) {
  Running& r = running_[k];
  EndedVisit e;
  e.slot = k;
  e.patient = r.patient;
  e.end.cpu_s = cpu_seconds(usage);
  if (r.pidfd >= 0) ::close(r.pidfd);
  r = Running{};
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == kExitFinished) {
      e.end.finished = true;
    } else if (code == kExitFailed) {
      std::string error;
      slots_[k]->error.read(&error);
      e.end.failure = error.empty() ? "SmallChunkCollector failed" : error;
    } else if (code != kExitOk) {
      e.end.failure = "SmallChunkCollector " + describe_status(status);
    }
  } else if (!(requested && WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL))) {
    e.end.failure = "SmallChunkCollector " + describe_status(status);
  }
  return e;
}

}  // namespace pydmed::detail
