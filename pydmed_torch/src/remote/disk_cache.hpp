#pragma once
// Private: the disk cache (RemoteOptions::cache_dir), shared by the processes of a run and by
// later runs. Per object (named by its key: URL, ETag, size) a sparse `KEY.data` holds fetched
// blocks at their offsets and `KEY.map` one 8-byte entry per block: present, length, CRC-32 of
// the bytes. A block's entry is written after its bytes and checked against them when read, so
// a block cut short by a crash or a full disk is fetched again, never used. Objects only
// OpenSlide reads are kept whole as `KEY-NAME` (written as a .part, renamed). Least recently
// used objects go first once the folder holds more than RemoteOptions::cache_bytes. The folder
// and its files are the user's alone (0700/0600).
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "remote/object.hpp"

namespace pydmed::remote {

class DiskCache {
 public:
  // This process's, or nullptr without a cache folder.
  static DiskCache* here();
  bool get(const RemoteObject& o, std::uint64_t block, std::uint8_t* dst, std::size_t n);
  void put(const RemoteObject& o, std::uint64_t block, const std::uint8_t* src, std::size_t n);
  const std::string& dir() const { return dir_; }
  // Drops least recently used objects until the folder holds at most the limit.
  void trim();
  // Marks an object used now, so trim keeps it longer.
  static void touch(const std::string& path);

 private:
  struct Files {
    int data = -1, map = -1;
  };
  DiskCache(std::string dir, std::uint64_t limit, pid_t pid) : dir_(std::move(dir)), limit_(limit), pid_(pid) {}
  Files files(const RemoteObject& o);  // opened once per object per process
  void warn_once(const std::string& why);

  std::string dir_;
  std::uint64_t limit_;
  pid_t pid_;
  std::mutex mu_;  // guards open_, written_, warned_
  std::unordered_map<std::uint64_t, Files> open_;
  std::uint64_t written_ = 0;  // bytes put since the last trim
  bool warned_ = false;
};

}  // namespace pydmed::remote
