#pragma once
// An exclusive lock that keeps a second run off what a run writes: two runs on one output or
// one state at once would interleave, duplicate and lose rows while both exit 0. The lock is
// flock(2): the kernel drops it when the process ends however it ends (SIGKILL included), so a
// crashed run never leaves a stale lock behind. A second run is refused at once, in one line.
#include <string>

namespace pydmed {

class RunLock {
 public:
  RunLock() = default;
  // Locks `path` + ".lock" (created beside it, holding this process's id; removed on release).
  // For files replaced by rename (a state file), whose inode changes under an flock. Throws
  // Error naming `path` when another run holds it or the lock file cannot be made (a missing
  // folder, a read-only one): before anything is written.
  static RunLock beside(const std::string& path);
  // Locks a folder itself (an output folder a run writes many files in).
  static RunLock folder(const std::string& dir);
  // Locks the open file `fd` (a file written in place, locked through its own descriptor).
  // Throws Error naming `name` when another run holds it.
  static void lock_open_file(int fd, const std::string& name);
  // True when the open file `fd` is still the file at `path` (not renamed or unlinked since it
  // was opened): what a lock taken after an open must check before it trusts the file.
  static bool still_at(int fd, const std::string& path);

  RunLock(RunLock&& o) noexcept;
  RunLock& operator=(RunLock&& o) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

  bool held() const { return fd_ >= 0; }

 private:
  void release();
  int fd_ = -1;
  std::string lock_file_;  // removed on release; "" for a folder
};

}  // namespace pydmed
