#pragma once
// Child processes of the tree: started with fork (see the note in process.cpp), tied to their
// parent's life, reaped by their parent.
#include <sys/resource.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace pydmed::detail {

struct ChildSetup {
  std::vector<int> cores;  // CPU affinity; empty: inherit
  int nice_increment = 0;
  bool own_process_group = false;  // keeps terminal signals (Ctrl-C) away from the tree
};

// Milliseconds from now to `deadline`, 0 once it has passed (a poll() timeout).
inline int ms_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return int(std::max<long long>(0, left.count()));
}

// Exit statuses shared by collectors and loaders.
enum ChildExit : int { kExitOk = 0, kExitFinished = 10, kExitFailed = 11, kExitSetupFailed = 12 };

// Forks; the child prepares itself per `setup`, runs `body` and _exits with its result
// (kExitFailed if it throws). Returns the child's pid; throws Error when fork fails.
pid_t spawn_child(const ChildSetup& setup, const std::function<int()>& body);

// A descriptor that becomes readable when the child exits (-1 where the kernel lacks pidfd).
int open_pidfd(pid_t pid);
// Waits up to timeout_ms (< 0: forever) for the child to exit and reaps it; true when reaped.
// Returns early (false) when interrupted by a signal and *interrupt is set. `usage` gets the
// CPU the child and its reaped children used.
bool wait_child(pid_t pid, int pidfd, int timeout_ms, int* status, const volatile int* interrupt = nullptr,
                rusage* usage = nullptr);
// SIGTERM, up to grace_ms for a clean exit, then SIGKILL; always reaps. Returns the status.
int stop_child(pid_t pid, int pidfd, int grace_ms, rusage* usage = nullptr);
// CPU seconds of a live process and of its reaped children (from /proc), 0 when gone.
double process_cpu_seconds(pid_t pid);
double cpu_seconds(const rusage& usage);
// "exit status 11", "killed by signal 9 (Killed)".
std::string describe_status(int status);

}  // namespace pydmed::detail
