#pragma once
// Private: state of which each process has its own. Collectors are forked while other threads
// of the parent (fetch threads among them) may hold its locks, so a child never uses its parent's
// T: the first use in the child makes a fresh one. Never destroyed (threads may use it at exit).
#include <unistd.h>

#include <atomic>

namespace pydmed::remote {

template <class T>
T& per_process() {
  static std::atomic<T*> current{nullptr};
  T* c = current.load(std::memory_order_acquire);
  while (!c || c->pid != ::getpid()) {
    T* made = new T();
    made->pid = ::getpid();
    if (current.compare_exchange_strong(c, made, std::memory_order_acq_rel)) return *made;
    delete made;  // another thread of this process made it first: c is now theirs
  }
  return *c;
}

}  // namespace pydmed::remote
