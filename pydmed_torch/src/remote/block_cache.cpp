#include "remote/block_cache.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/disk_cache.hpp"
#include "remote/http.hpp"
#include "remote/per_process.hpp"

namespace pydmed::remote {
namespace {
constexpr std::uint64_t kMaxRunBlocks = 64;    // 2 MiB a request: large areas go as several in flight
constexpr std::uint64_t kReadAheadBlocks = 4;  // a miss fetches 128 KiB: headers are read in small steps
}  // namespace

BlockCache& BlockCache::here() { return fork_aware<BlockCache>(); }

void BlockCache::after_fork(bool child) {
  if (child) {
    // The parent's fetch threads are not here: their blocks would never arrive. The condition
    // variables may count the parent's waiters: fresh ones (no thread of this process waits).
    for (auto it = blocks_.begin(); it != blocks_.end();)
      it = it->second.state == State::kReady ? std::next(it) : blocks_.erase(it);
    jobs_.clear();
    workers_ = 0;
    new (&arrived_) std::condition_variable();
    new (&queued_) std::condition_variable();
  }
  mu_.unlock();
}

std::vector<BlockCache::Job> BlockCache::claim(const std::shared_ptr<const RemoteObject>& o, std::uint64_t first,
                                               std::uint64_t end) {
  std::vector<Job> runs;
  for (std::uint64_t b = first; b < end; ++b) {
    auto [it, fresh] = blocks_.try_emplace(Key{o->id, b});
    if (!fresh && it->second.state != State::kFailed) continue;
    it->second = Block{};  // pending
    if (!runs.empty() && runs.back().end == b && b - runs.back().first < kMaxRunBlocks)
      runs.back().end = b + 1;
    else
      runs.push_back(Job{o, b, b + 1});
  }
  return runs;
}

void BlockCache::complete(const RemoteObject& o, std::uint64_t block, const std::uint8_t* data, std::size_t n) {
  Block& b = blocks_[Key{o.id, block}];
  if (b.state == State::kReady) return;
  b.state = State::kReady;
  b.data.assign(data, data + n);
  lru_.push_front(Key{o.id, block});
  b.lru = lru_.begin();
  bytes_ += n;
  const std::uint64_t cap = std::max<std::uint64_t>(remote_options().memory_bytes(), 16 * kBlock);
  while (bytes_ > cap && lru_.size() > 1) {
    auto victim = blocks_.find(lru_.back());
    bytes_ -= victim->second.data.size();
    lru_.pop_back();
    blocks_.erase(victim);
  }
}

void BlockCache::fail(const Job& j, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::uint64_t b = j.first; b < j.end; ++b) {
    auto it = blocks_.find(Key{j.object->id, b});
    if (it != blocks_.end() && it->second.state == State::kPending) it->second.state = State::kFailed, it->second.error = why;
  }
  arrived_.notify_all();
}

std::vector<std::uint8_t> BlockCache::fetch(const Job& j) {
  const RemoteObject& o = *j.object;
  const std::uint64_t begin = j.first * kBlock, end = std::min(o.size, j.end * kBlock);
  std::vector<std::uint8_t> buf(std::size_t(end - begin));
  // Block k's bytes in `buf` and how many (the object's last block is short).
  auto piece = [&](std::uint64_t k) {
    const std::uint64_t at = k * kBlock;
    return std::pair(buf.data() + (at - begin), std::size_t(std::min(o.size, at + kBlock) - at));
  };
  try {
    DiskCache* disk = DiskCache::here();
    std::vector<bool> have(std::size_t(j.end - j.first), false);
    if (disk) {
      for (std::uint64_t b = j.first; b < j.end; ++b) {
        const auto [p, len] = piece(b);
        have[b - j.first] = disk->get(o, b, p, len);
      }
    }
    for (std::uint64_t b = j.first; b < j.end;) {  // the missing blocks, a request per run of them
      if (have[b - j.first]) {
        ++b;
        continue;
      }
      std::uint64_t e = b;
      while (e < j.end && !have[e - j.first]) ++e;
      const std::uint64_t at = b * kBlock, len = std::min(o.size, e * kBlock) - at;
      get_range(o.target, buf.data() + (at - begin), std::size_t(len), at, o.etag);
      if (disk) {
        for (std::uint64_t k = b; k < e; ++k) {
          const auto [p, len] = piece(k);
          disk->put(o, k, p, len);
        }
      }
      b = e;
    }
  } catch (const SlideError& e) {
    fail(j, e.reason());
    return {};
  } catch (const std::exception& e) {
    fail(j, e.what());
    return {};
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (std::uint64_t b = j.first; b < j.end; ++b) {
    const auto [p, len] = piece(b);
    complete(o, b, p, len);
  }
  arrived_.notify_all();
  return buf;
}

void BlockCache::worker() {
  for (;;) {
    Job j;
    {
      std::unique_lock<std::mutex> lock(mu_);
      queued_.wait(lock, [&] { return !jobs_.empty(); });
      j = std::move(jobs_.front());
      jobs_.pop_front();
    }
    (void)fetch(j);
  }
}

void BlockCache::prefetch(const std::shared_ptr<const RemoteObject>& o,
                          const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges, bool now) {
  // Ranges as block intervals, sorted and merged where they touch.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  for (const auto& [off, n] : ranges) {
    if (n == 0 || off >= o->size) continue;
    spans.emplace_back(off / kBlock, (std::min(o->size, off + n) - 1) / kBlock + 1);
  }
  std::sort(spans.begin(), spans.end());
  std::lock_guard<std::mutex> lock(mu_);
  std::deque<Job> fresh;
  std::uint64_t done = 0;  // blocks below are claimed already
  for (const auto& [first, end] : spans) {
    const std::uint64_t from = std::max(first, done);
    if (from >= end) continue;
    for (Job& j : claim(o, from, end)) {
      // Joined to the previous run where it ends where this begins (tiles in file order).
      if (!fresh.empty() && fresh.back().end == j.first && j.end - fresh.back().first <= kMaxRunBlocks)
        fresh.back().end = j.end;
      else
        fresh.push_back(std::move(j));
    }
    done = end;
  }
  if (now) {
    // Needed now: ahead of the queue, with the queued jobs that hold any of these blocks (asked
    // for by an earlier look-ahead, not yet started).
    std::deque<Job> urgent;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      const bool wanted = it->object->id == o->id && std::any_of(spans.begin(), spans.end(), [&](const auto& sp) {
                            return it->first < sp.second && sp.first < it->end;
                          });
      if (wanted) {
        urgent.push_back(std::move(*it));
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
    urgent.insert(urgent.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
    jobs_.insert(jobs_.begin(), std::make_move_iterator(urgent.begin()), std::make_move_iterator(urgent.end()));
  } else {
    jobs_.insert(jobs_.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
  }
  const std::size_t want = std::min<std::size_t>(std::max(1, remote_options().connections()), jobs_.size());
  for (; workers_ < want; ++workers_) std::thread([this] { worker(); }).detach();
  queued_.notify_all();
}

void BlockCache::insert(const RemoteObject& o, std::uint64_t offset, const std::uint8_t* data, std::size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::uint64_t b = (offset + kBlock - 1) / kBlock;; ++b) {  // the whole blocks among them
    const std::uint64_t at = b * kBlock, len = std::min(o.size, at + kBlock) - at;
    if (at >= o.size || at + len > offset + n) break;
    complete(o, b, data + (at - offset), std::size_t(len));
  }
  arrived_.notify_all();
}

std::size_t BlockCache::read(const std::shared_ptr<const RemoteObject>& o, void* dst, std::size_t n,
                             std::uint64_t offset) {
  if (offset >= o->size || n == 0) return 0;
  n = std::size_t(std::min<std::uint64_t>(n, o->size - offset));
  const std::uint64_t first = offset / kBlock, end = (offset + n - 1) / kBlock + 1;
  const std::uint64_t last_block = (o->size - 1) / kBlock + 1;
  std::size_t copied = 0;
  for (std::uint64_t b = first; b < end; ++b) {
    for (;;) {
      std::vector<Job> mine;  // fetched by this thread, outside the lock
      {
        std::unique_lock<std::mutex> lock(mu_);
        auto it = blocks_.find(Key{o->id, b});
        if (it != blocks_.end() && it->second.state == State::kPending) {
          // Still queued (no fetch thread has it yet): fetched here, now. Else wait for it.
          const auto queued = std::find_if(jobs_.begin(), jobs_.end(), [&](const Job& j) {
            return j.object->id == o->id && j.first <= b && b < j.end;
          });
          if (queued != jobs_.end()) {
            mine.push_back(std::move(*queued));
            jobs_.erase(queued);
          } else {
            arrived_.wait(lock, [&] {
              it = blocks_.find(Key{o->id, b});
              return it == blocks_.end() || it->second.state != State::kPending;
            });
          }
        }
        if (mine.empty()) {
          if (it != blocks_.end() && it->second.state == State::kReady) {
            Block& blk = it->second;
            const std::uint64_t at = b * kBlock, from = std::max(offset, at),
                                to = std::min<std::uint64_t>(offset + n, at + blk.data.size());
            std::memcpy(static_cast<char*>(dst) + (from - offset), blk.data.data() + (from - at),
                        std::size_t(to - from));
            copied += std::size_t(to - from);
            lru_.splice(lru_.begin(), lru_, blk.lru);
            break;
          }
          if (it != blocks_.end() && it->second.state == State::kFailed) {
            const std::string why = it->second.error;
            blocks_.erase(it);  // the next reader tries again
            throw RemoteError(o->target.name, why);
          }
          // Absent: fetched here with the absent blocks after it up to the read's end (at least
          // a read-ahead's worth), in as few requests as they allow.
          std::uint64_t stop = b + 1;
          while (stop < std::max(end, std::min(last_block, b + kReadAheadBlocks)) &&
                 blocks_.find(Key{o->id, stop}) == blocks_.end())
            ++stop;
          mine = claim(o, b, stop);
        }
      }
      // Copied from what was fetched: under a small memory cap the table may already have
      // dropped it, and looking again would fetch it again, for ever.
      bool got = false;
      for (const Job& j : mine) {
        const std::vector<std::uint8_t> bytes = fetch(j);
        if (got || bytes.empty() || b < j.first || b >= j.end) continue;
        const std::uint64_t at = b * kBlock, base = j.first * kBlock, from = std::max(offset, at),
                            to = std::min<std::uint64_t>({offset + n, at + kBlock, o->size});
        std::memcpy(static_cast<char*>(dst) + (from - offset), bytes.data() + (from - base), std::size_t(to - from));
        copied += std::size_t(to - from);
        got = true;
      }
      if (got) break;  // a failed fetch is found failed in the table on the next turn
    }
  }
  return copied;
}

}  // namespace pydmed::remote
