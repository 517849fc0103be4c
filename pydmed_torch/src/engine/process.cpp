// Why fork, and not a fork server or re-exec:
// - User code (BigChunkLoader / SmallChunkCollector subclasses, their captured parameters) must
//   run in the children; fork gives it to them as it is, with no registration or serialisation.
//   Re-exec would reload the user's program (and LibTorch, ~200 MB and a second of start-up)
//   for every short-lived BigChunkLoader; a fork server made "early" is still made after
//   whatever the user ran before constructing the loader, so it buys nothing over fork.
// - The hazard of fork in a multithreaded root is a lock or thread pool left half-alive in the
//   child. Children therefore never touch LibTorch, CUDA or OpenMP; they switch OpenCV's own
//   thread pool (TBB on Debian, which can hang after fork: seen here, 1 child in 100) to one
//   thread before any OpenCV call; glibc's malloc is fork-safe; OpenSlide handles are opened
//   in the child. The torch-facing tests run multithreaded torch and OpenCV work in the root
//   before starting and stopping the loader a hundred times.
// - Forks happen on the loader's scheduler thread only: PR_SET_PDEATHSIG fires when the
//   forking *thread* exits, and that thread lives exactly as long as the loader.
#include "engine/process.hpp"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <opencv2/core.hpp>
#include <thread>

#include "pydmed/error.hpp"

namespace pydmed::detail {

pid_t spawn_child(const ChildSetup& setup, const std::function<int()>& body) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw Error(std::string("fork failed: ") + std::strerror(errno));
  if (pid > 0) return pid;
  // Child. Die with the parent; if it already died between fork and prctl, go now.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(kExitSetupFailed);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // the root's threads may block signals
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) signal(s, SIG_DFL);
  if (setup.own_process_group) setpgid(0, 0);
  if (!setup.cores.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : setup.cores) CPU_SET(c, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  if (setup.nice_increment != 0) {
    errno = 0;
    const int now = getpriority(PRIO_PROCESS, 0);
    if (errno == 0) setpriority(PRIO_PROCESS, 0, now + setup.nice_increment);
  }
  cv::setNumThreads(1);
  int rc = kExitFailed;
  try {
    rc = body();
  } catch (...) {
    rc = kExitFailed;
  }
  _exit(rc);  // no atexit handlers, no static destructors of the root's objects
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

bool wait_child(pid_t pid, int pidfd, int timeout_ms, int* status, const volatile int* interrupt, rusage* usage) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  rusage ignored{};
  for (;;) {
    const pid_t r = wait4(pid, status, WNOHANG, usage ? usage : &ignored);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) {
      *status = 0;
      return true;  // not our child any more (already reaped): nothing to wait for
    }
    if (interrupt && *interrupt) return false;
    int left = -1;
    if (timeout_ms >= 0) {
      left = ms_until(deadline);
      if (left <= 0) return false;
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, left);
    } else {
      // No pidfd on this kernel: sleep in short steps (a fallback, not the normal path).
      std::this_thread::sleep_for(std::chrono::milliseconds(left < 0 ? 20 : std::min(left, 20)));
    }
  }
}

int stop_child(pid_t pid, int pidfd, int grace_ms, rusage* usage) {
  int status = 0;
  kill(pid, SIGTERM);
  if (wait_child(pid, pidfd, grace_ms, &status, nullptr, usage)) return status;
  kill(pid, SIGKILL);
  wait_child(pid, pidfd, -1, &status, nullptr, usage);
  return status;
}

double cpu_seconds(const rusage& u) {
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double process_cpu_seconds(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command name (which may hold spaces): state is field 3, utime 14 ... cstime 17.
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  unsigned long long v[15] = {};
  char state;
  if (std::sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &state, &v[0], &v[1], &v[2],
                  &v[3]) != 5) {
    return 0;
  }
  return double(v[0] + v[1] + v[2] + v[3]) / double(sysconf(_SC_CLK_TCK));
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    return "killed by signal " + std::to_string(s) + " (" + strsignal(s) + ")";
  }
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

}  // namespace pydmed::detail
