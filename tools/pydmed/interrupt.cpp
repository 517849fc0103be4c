#include "interrupt.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace pydmed::cli {

namespace {
std::atomic<int> g_signal{0};
std::mutex g_mu;  // guards g_stop; the watcher calls it under the lock, so clearing waits for a call in progress
std::function<void()> g_stop;

sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

void Interrupt::install() {
  const sigset_t set = interrupt_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (g_signal.exchange(sig) != 0) _exit(128 + sig);  // the second one: now
      std::lock_guard<std::mutex> g(g_mu);
      if (g_stop) g_stop();
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
