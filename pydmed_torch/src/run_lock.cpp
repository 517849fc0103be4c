#include "pydmed/run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "pydmed/error.hpp"
#include "pydmed/file_identity.hpp"

namespace pydmed {

namespace {
[[noreturn]] void busy(const std::string& name, const std::string& holder) {
  throw Error(name + ": in use by another run" + holder +
              " (the same --out or --state at once); wait for it to end or use another file");
}

// flock without waiting: false when another holds it. A file system without locks (some network
// mounts) has nothing to hold and nothing to refuse: true.
bool try_lock(int fd) {
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    return errno != EWOULDBLOCK;
  }
  return true;
}
}  // namespace

void RunLock::lock_open_file(int fd, const std::string& name) {
  if (!try_lock(fd)) busy(name, "");
}

bool RunLock::still_at(int fd, const std::string& path) {
  struct stat a {
  }, b{};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

RunLock RunLock::beside(const std::string& path) {
  const std::string lock_file = resolved_path(path) + ".lock";
  // Unlink-on-release races with a second run that opened the old file: retry until the file
  // locked is the one at the path (fstat and stat agree).
  for (;;) {
    const int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      throw Error(path + ": cannot make its lock file " + lock_file + ": " + std::strerror(err));
    }
    if (!try_lock(fd)) {
      char pid[32] = {};
      const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
      ::close(fd);
      std::string holder = n > 0 ? std::string(pid, std::size_t(n)) : "";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      busy(path, holder.empty() ? "" : " (process " + holder + ")");
    }
    if (still_at(fd, lock_file)) {
      // The pid is for a second run's message only: a failed write is not an error.
      const std::string pid = std::to_string(::getpid()) + "\n";
      const bool said = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) == ssize_t(pid.size());
      (void)said;
      RunLock l;
      l.fd_ = fd;
      l.lock_file_ = lock_file;
      return l;
    }
    ::close(fd);
  }
}

RunLock RunLock::folder(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(dir + ": cannot open the folder to lock it: " + std::strerror(err));
  }
  RunLock l;
  l.fd_ = fd;
  lock_open_file(fd, dir);
  return l;
}

RunLock::RunLock(RunLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)), lock_file_(std::move(o.lock_file_)) {}

RunLock& RunLock::operator=(RunLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = std::exchange(o.fd_, -1);
    lock_file_ = std::move(o.lock_file_);
  }
  return *this;
}

RunLock::~RunLock() { release(); }

void RunLock::release() {
  if (fd_ < 0) return;
  if (!lock_file_.empty()) ::unlink(lock_file_.c_str());  // while still held: see beside()
  ::close(fd_);
  fd_ = -1;
}

}  // namespace pydmed
