#include "remote/local_copy.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "file_descriptor.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/disk_cache.hpp"
#include "remote/http.hpp"
#include "remote/object.hpp"

namespace pydmed::remote {
namespace {

struct TempFolder {
  std::string path;
  pid_t owner = 0;
};
TempFolder g_temp;  // set once, by the first process that needs it; children inherit it
std::once_flag g_temp_once;

void remove_temp() {
  if (g_temp.owner == ::getpid()) {
    std::error_code ec;
    std::filesystem::remove_all(g_temp.path, ec);
  }
}

const std::string& temp_folder(const std::string& name) {
  std::call_once(g_temp_once, [&] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/pydmed-fetched-XXXXXX";
    if (!::mkdtemp(pattern.data()))  // 0700
      throw SlideError(name, std::string("cannot make a temporary folder for its copy: ") + std::strerror(errno));
    g_temp = TempFolder{pattern, ::getpid()};
    std::atexit(remove_temp);
  });
  return g_temp.path;
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
  // One fetch: the others wait here, then find the copy.
  detail::FileDescriptor lock(::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (lock.get() < 0 || ::flock(lock.get(), LOCK_EX) != 0)
    throw SlideError(o->target.name, "cannot lock its copy " + path + ": " + std::strerror(errno));
  if (::stat(path.c_str(), &st) == 0 && std::uint64_t(st.st_size) == o->size) return path;
  const std::string part = path + ".part";
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
  ::unlink((path + ".lock").c_str());
  if (disk) disk->trim();
  return path;
}

}  // namespace pydmed::remote
