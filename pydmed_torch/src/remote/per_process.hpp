#pragma once
// Private: a process's remote state, across fork. Collectors and loaders are forked while the
// parent's threads (fetch threads among them) may be inside it: pthread_atfork has T lock itself
// before fork (so the child's copy is consistent) and unlock after, and the child then drops
// what lived in the parent's threads (T::after_fork(true): requests in flight, queued jobs).
// What the parent had (opened objects, fetched blocks) the child inherits, copy-on-write: a
// loader process forked per visit reopens its slide from memory, not over the network.
// Never destroyed (threads may use it at exit).
#include <pthread.h>

namespace pydmed::remote {

template <class T>
T& fork_aware() {
  static T* const instance = [] {
    T* t = new T();
    pthread_atfork([] { fork_aware<T>().before_fork(); }, [] { fork_aware<T>().after_fork(false); },
                   [] { fork_aware<T>().after_fork(true); });
    return t;
  }();
  return *instance;
}

}  // namespace pydmed::remote
