#include "interrupt.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "pydmed/partial_files.hpp"

namespace pydmed::cli {

namespace {
std::atomic<int> g_signal{0};
// Guards g_stop. The stop function runs on a thread of its own, under this lock, so that the
// watcher is back in sigwait at once (a second signal must not wait for a slow stop) and
// clearing the function waits for a call in progress.
std::mutex g_mu;
std::function<void()> g_stop;

sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Nothing to stop cleanly (before a run, or a command without one): end as the signal would
// have ended the process had it not been blocked.
[[noreturn]] void die_of(int sig) {
  remove_partial_files();  // what was being written under a temporary name goes with the process
  signal(sig, SIG_DFL);
  const sigset_t set = interrupt_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  _exit(128 + sig);
}
}  // namespace

void Interrupt::install() {
  const sigset_t set = interrupt_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (g_signal.exchange(sig) != 0) {  // the second one: now
        remove_partial_files();
        _exit(128 + sig);
      }
      {
        std::lock_guard<std::mutex> g(g_mu);
        if (!g_stop) die_of(sig);
      }
      std::thread([] {
        std::lock_guard<std::mutex> g(g_mu);
        if (g_stop) g_stop();
      }).detach();
    }
  }).detach();
}

int Interrupt::received() { return g_signal.load(); }

void Interrupt::on_signal(std::function<void()> stop) {
  std::lock_guard<std::mutex> g(g_mu);
  g_stop = std::move(stop);
  if (g_stop && g_signal.load() != 0) g_stop();
}

}  // namespace pydmed::cli
