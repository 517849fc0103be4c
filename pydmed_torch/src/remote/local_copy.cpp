#include "remote/local_copy.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "file_descriptor.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/disk_cache.hpp"
#include "remote/http.hpp"
#include "remote/object.hpp"

namespace pydmed::remote {
namespace {

// The program's pid: static initialisation runs once, in the program, never in its forked
// children. A child that needs the temporary folder first makes the same one.
const pid_t g_root = ::getpid();

std::string temp_path() {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/pydmed-fetched-" + std::to_string(::getuid()) + "-" +
         std::to_string(g_root);
}

// Removes the folder when the program ends, whichever of its processes made it (children leave
// by _exit, which runs no destructor).
struct RemoveAtExit {
  ~RemoveAtExit() {
    std::error_code ec;
    if (::getpid() == g_root) std::filesystem::remove_all(temp_path(), ec);
  }
} g_remove_at_exit;

// $TMPDIR/pydmed-fetched-UID-ROOTPID (0700), removed by the program at exit (a program killed by a
// signal leaves it: its patient data stays the user's alone).
std::string temp_folder(const std::string& name) {
  const std::string path = temp_path();
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    throw SlideError(name, "cannot make a temporary folder for its copy: " + path + ": " + std::strerror(errno));
  }
  struct stat st {};  // ours, a real folder, private: not one planted by another user
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 077) != 0)
    throw SlideError(name, "the temporary folder " + path + " is not this user's private folder");
  return path;
}

}  // namespace

std::string local_copy(const std::string& url) {
  const auto o = open_object(url);
  DiskCache* disk = DiskCache::here();
  const std::string dir = disk ? disk->dir() : temp_folder(o->target.name);
  std::string file = url_file_name(url);
  if (file.empty() || file == "." || file == "..") file = "object";
  const std::string path = dir + "/" + o->key + "-" + file.substr(0, 100);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && std::uint64_t(st.st_size) == o->size) {
    DiskCache::touch(path);
    return path;
  }
  // One fetch: the others wait here, then find the copy. The lock file stays (removing it would let
  // a newcomer lock a new file while others wait on the old one).
  detail::FileDescriptor lock(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (lock.get() < 0 || ::flock(lock.get(), LOCK_EX) != 0)
    throw SlideError(o->target.name, "cannot lock its copy " + path + ": " + std::strerror(errno));
  if (::stat(path.c_str(), &st) == 0 && std::uint64_t(st.st_size) == o->size) return path;
  const std::string part = path + ".part" + std::to_string(::getpid());
  {
    detail::FileDescriptor out(::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (out.get() < 0) throw SlideError(o->target.name, "cannot write its copy " + part + ": " + std::strerror(errno));
    std::uint64_t written = 0;
    std::string failed;
    auto sink = [&](const char* p, std::size_t n) {
      while (n > 0) {
        const ssize_t w = ::write(out.get(), p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          failed = std::strerror(errno ? errno : ENOSPC);
          return false;
        }
        p += w, n -= std::size_t(w), written += std::uint64_t(w);
      }
      return true;
    };
    try {
      get_all(o->target, sink);
    } catch (const SlideError&) {
      ::unlink(part.c_str());
      if (!failed.empty()) throw SlideError(o->target.name, "cannot write its copy " + part + ": " + failed);
      throw;
    }
    if (!failed.empty()) {
      ::unlink(part.c_str());
      throw SlideError(o->target.name, "cannot write its copy " + part + ": " + failed);
    }
    if (written != o->size) {
      ::unlink(part.c_str());
      throw SlideError(o->target.name, "cut short: " + std::to_string(written) + " of " + std::to_string(o->size) +
                                           " bytes arrived (or the object changed)");
    }
  }
  if (::rename(part.c_str(), path.c_str()) != 0) {
    ::unlink(part.c_str());
    throw SlideError(o->target.name, "cannot keep its copy " + path + ": " + std::strerror(errno));
  }
  if (disk) disk->trim();
  return path;
}

}  // namespace pydmed::remote
