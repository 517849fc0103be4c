#pragma once
// Ctrl-C and SIGTERM end a pydmed run cleanly: the loader stops, the output gets whole lines
// only, the summary is printed, and the exit status is 128 + the signal (130, 143).
//
// install() blocks SIGINT and SIGTERM in the calling thread before any other thread exists, so
// every thread inherits the mask, and one watcher thread takes them with sigwait: no handler
// runs in the middle of a write or inside the loader's locks. (Children unblock signals at
// fork.) With no stop function registered (before a run starts, or in a command without one)
// the signal ends the process as it normally would; a second signal ends it at once.
#include <functional>

namespace pydmed::cli {

class Interrupt {
 public:
  // Call first in main(), before any thread is started.
  static void install();
  // The signal received (SIGINT, SIGTERM), or 0.
  static int received();
  // Called (from the watcher thread) when a signal arrives, or at once if one already did;
  // pass nullptr to clear it before what it refers to goes away.
  static void on_signal(std::function<void()> stop);
  // The exit status for a run that a signal ended: 128 + the signal.
  static int exit_status() { return 128 + received(); }
};

// Registers `stop` for the lifetime of the guard.
class OnInterrupt {
 public:
  explicit OnInterrupt(std::function<void()> stop) { Interrupt::on_signal(std::move(stop)); }
  ~OnInterrupt() { Interrupt::on_signal(nullptr); }
  OnInterrupt(const OnInterrupt&) = delete;
  OnInterrupt& operator=(const OnInterrupt&) = delete;
};

}  // namespace pydmed::cli
