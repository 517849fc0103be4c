#pragma once
// Private: this process's remote bytes, in blocks of 32 KiB: in memory (least recently used
// dropped past RemoteOptions::memory_bytes), else in the disk cache, else fetched. A block is
// fetched once however many threads want it: the others wait for it. Prefetches run on this
// process's fetch threads, several requests in flight, neighbouring blocks coalesced into one
// request.
//
// Threads: any thread reads and prefetches; `mu_` guards the table, the LRU list and the job
// queue; fetches run without it. A forked child inherits the fetched blocks (fork_aware), not
// the fetches in flight, the threads or the connections.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "remote/object.hpp"

namespace pydmed::remote {

class BlockCache {
 public:
  static constexpr std::uint64_t kBlock = 32 << 10;
  static BlockCache& here();
  // fork_aware's hooks: the lock held across fork; a child forgets fetches and threads it lacks.
  void before_fork() { mu_.lock(); }
  void after_fork(bool child);

  // Up to `n` bytes at `offset`; fewer only at the object's end. Throws SlideError naming the
  // object when its bytes cannot be had.
  std::size_t read(const std::shared_ptr<const RemoteObject>& o, void* dst, std::size_t n, std::uint64_t offset);
  // Starts fetching the blocks of these byte ranges that are neither here nor on their way.
  // Returns at once; a failure is reported by the read that needs the bytes. `now`: they are
  // about to be read, so they go ahead of the look-ahead queued before them.
  void prefetch(const std::shared_ptr<const RemoteObject>& o,
                const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges, bool now);
  // Bytes already fetched (the opening request's), kept as whole blocks.
  void insert(const RemoteObject& o, std::uint64_t offset, const std::uint8_t* data, std::size_t n);

 private:
  struct Key {
    std::uint64_t id, block;
    bool operator==(const Key& k) const { return id == k.id && block == k.block; }
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const { return std::hash<std::uint64_t>()(k.id * 0x9E3779B97F4A7C15ull ^ k.block); }
  };
  enum class State { kPending, kReady, kFailed };
  struct Block {
    State state = State::kPending;
    std::vector<std::uint8_t> data;
    std::string error;
    std::list<Key>::iterator lru;  // valid when ready
  };
  struct Job {
    std::shared_ptr<const RemoteObject> object;
    std::uint64_t first, end;  // blocks [first, end)
  };

  // Marks the absent blocks of [first, end) pending and returns them as runs. Holds mu_.
  std::vector<Job> claim(const std::shared_ptr<const RemoteObject>& o, std::uint64_t first, std::uint64_t end);
  // Fills or fails the job's blocks; returns their bytes (empty when it failed), which the
  // reader that fetched them copies from even if the table has already dropped them.
  std::vector<std::uint8_t> fetch(const Job& j);
  void complete(const RemoteObject& o, std::uint64_t block, const std::uint8_t* data, std::size_t n);  // holds mu_
  void fail(const Job& j, const std::string& why);
  void worker();

  std::mutex mu_;
  std::condition_variable arrived_;  // a block became ready or failed
  std::condition_variable queued_;   // a job was queued
  std::unordered_map<Key, Block, KeyHash> blocks_;
  std::list<Key> lru_;  // ready blocks, most recent first
  std::uint64_t bytes_ = 0;
  std::deque<Job> jobs_;
  std::size_t workers_ = 0;  // threads started (they live as long as the process)
};

}  // namespace pydmed::remote
