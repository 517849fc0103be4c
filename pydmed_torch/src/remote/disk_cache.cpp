#include "remote/disk_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <vector>

#include "pydmed/slide/remote.hpp"
#include "remote/block_cache.hpp"

namespace pydmed::remote {
namespace {
constexpr std::uint64_t kPresent = std::uint64_t(1) << 63;

bool full_pwrite(int fd, const void* p, std::size_t n, off_t at) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p = static_cast<const char*>(p) + w, n -= std::size_t(w), at += w;
  }
  return true;
}
}  // namespace

DiskCache* DiskCache::here() {
  static std::atomic<DiskCache*> current{nullptr};
  const RemoteOptions o = remote_options();
  if (o.cache_dir().empty()) return nullptr;
  DiskCache* c = current.load(std::memory_order_acquire);
  while (!c || c->pid_ != ::getpid() || c->dir_ != o.cache_dir()) {
    ::mkdir(o.cache_dir().c_str(), 0700);  // named by the environment: may not exist yet
    auto* made = new DiskCache(o.cache_dir(), o.cache_bytes(), ::getpid());  // never destroyed: fds stay open
    if (current.compare_exchange_strong(c, made, std::memory_order_acq_rel)) return made;
    delete made;
  }
  return c;
}

void DiskCache::touch(const std::string& path) { ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

void DiskCache::warn_once(const std::string& why) {
  if (warned_) return;
  warned_ = true;
  std::fprintf(stderr, "pydmed: the cache %s: %s; going on without caching there\n", dir_.c_str(), why.c_str());
}

DiskCache::Files DiskCache::files(const RemoteObject& o) {
  if (o.version.empty()) return Files{};  // nothing would tell a changed object from the one cached
  std::lock_guard<std::mutex> lock(mu_);
  auto it = open_.find(o.id);
  if (it != open_.end()) return it->second;
  const std::string base = dir_ + "/" + o.key;
  Files f;
  f.data = ::open((base + ".data").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  f.map = ::open((base + ".map").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (f.data < 0 || f.map < 0) {
    warn_once(std::strerror(errno));
    if (f.data >= 0) ::close(f.data);
    if (f.map >= 0) ::close(f.map);
    f = Files{};
  } else {
    ::futimens(f.map, nullptr);  // used now
  }
  open_.emplace(o.id, f);
  return f;
}

bool DiskCache::get(const RemoteObject& o, std::uint64_t block, std::uint8_t* dst, std::size_t n) {
  const Files f = files(o);
  if (f.map < 0) return false;
  std::uint64_t entry = 0;
  if (::pread(f.map, &entry, 8, off_t(block * 8)) != 8 || !(entry & kPresent)) return false;
  if (((entry >> 32) & 0x7FFFFFFF) != n) return false;
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(f.data, dst + got, n - got, off_t(block * BlockCache::kBlock + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += std::size_t(r);
  }
  return std::uint32_t(entry) == std::uint32_t(crc32(0, dst, uInt(n)));
}

void DiskCache::put(const RemoteObject& o, std::uint64_t block, const std::uint8_t* src, std::size_t n) {
  const Files f = files(o);
  if (f.map < 0) return;
  const std::uint64_t entry = kPresent | (std::uint64_t(n) << 32) | crc32(0, src, uInt(n));
  // The bytes first, then the entry that vouches for them (checked by CRC when read, so an
  // entry whose bytes never reached the disk is a miss, not wrong pixels).
  if (!full_pwrite(f.data, src, n, off_t(block * BlockCache::kBlock)) || !full_pwrite(f.map, &entry, 8, off_t(block * 8))) {
    std::lock_guard<std::mutex> lock(mu_);
    warn_once(std::strerror(errno ? errno : ENOSPC));
    return;
  }
  bool due = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    written_ += n;
    due = written_ > limit_ / 16;
    if (due) written_ = 0;
  }
  if (due) trim();
}

void DiskCache::trim() {
  struct Entry {
    std::uint64_t bytes = 0;
    std::int64_t used = 0;
    std::vector<std::string> files;
  };
  std::map<std::string, Entry> objects;  // by key
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return;
  std::uint64_t total = 0;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 64 || name.find_first_not_of("0123456789abcdef") < 64) continue;
    struct stat st {};
    const std::string path = dir_ + "/" + name;
    if (::stat(path.c_str(), &st) != 0) continue;
    if (name.find(".part") != std::string::npos && st.st_mtime > std::time(nullptr) - 3600) continue;  // being fetched
    Entry& en = objects[name.substr(0, 64)];
    en.bytes += std::uint64_t(st.st_blocks) * 512;
    en.used = std::max<std::int64_t>(en.used, st.st_mtime);
    en.files.push_back(path);
    total += std::uint64_t(st.st_blocks) * 512;
  }
  ::closedir(d);
  if (total <= limit_) return;
  std::vector<std::pair<std::int64_t, const Entry*>> order;
  for (const auto& [key, en] : objects) order.emplace_back(en.used, &en);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Another process reading an object removed here keeps its open files; a whole copy being
  // opened right now is fetched again.
  for (const auto& [used, en] : order) {
    if (total <= limit_) break;
    for (const auto& f : en->files) ::unlink(f.c_str());
    total -= en->bytes;
  }
}

}  // namespace pydmed::remote
