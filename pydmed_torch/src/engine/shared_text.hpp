#pragma once
// A string in shared memory with one writer process and readers elsewhere. Two buffers: the
// writer fills the idle one, then publishes it; a writer killed mid-write leaves the last
// complete value readable (a crashed collector's checkpoint survives).
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

namespace pydmed::detail {

class SharedText {
 public:
  static std::size_t bytes_for(std::size_t capacity) { return sizeof(Header) + 2 * capacity; }

  SharedText(void* at, std::size_t capacity)
      : h_(static_cast<Header*>(at)), buf_(static_cast<char*>(at) + sizeof(Header)), cap_(capacity) {}

  std::size_t capacity() const { return cap_; }
  // False when `s` does not fit.
  bool write(const std::string& s) {
    if (s.size() > cap_) return false;
    const std::uint32_t v = h_->version.load(std::memory_order_relaxed);
    const unsigned next = (v + 1) % 2;
    std::memcpy(buf_ + next * cap_, s.data(), s.size());
    h_->length[next] = static_cast<std::uint32_t>(s.size());
    h_->version.store(v + 1, std::memory_order_release);
    return true;
  }
  // The last complete value, and the number of writes so far (0: never written).
  std::uint32_t read(std::string* out) const {
    for (;;) {
      const std::uint32_t v = h_->version.load(std::memory_order_acquire);
      const unsigned at = v % 2;
      const std::uint32_t len = h_->length[at];
      out->assign(buf_ + at * cap_, len <= cap_ ? len : 0);
      std::atomic_thread_fence(std::memory_order_acquire);
      // Writes alternate buffers: ours is rewritten only by write v + 2, which starts after
      // write v + 1 has published. An unchanged version means our copy is whole.
      if (h_->version.load(std::memory_order_relaxed) == v) return v;
    }
  }
  void clear() {
    h_->length[0] = h_->length[1] = 0;
    h_->version.store(0, std::memory_order_release);
  }

 private:
  struct Header {
    std::atomic<std::uint32_t> version;
    std::uint32_t length[2];
  };
  Header* h_;
  char* buf_;
  std::size_t cap_;
};

}  // namespace pydmed::detail
