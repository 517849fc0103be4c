#pragma once
// Portable, keyed random streams. std::shuffle and std::uniform_int_distribution differ
// between standard libraries; these do not, so a seed means the same thing everywhere.
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace pydmed {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// One stream per key: Rng({seed, patient, visit}) is independent of Rng({seed, patient, visit+1}).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(splitmix64(seed)) {}
  Rng(std::initializer_list<std::uint64_t> key) : state_(0x243F6A8885A308D3ULL) {
    for (auto k : key) state_ = splitmix64(state_ ^ splitmix64(k));
  }
  std::uint64_t next() { return splitmix64(state_++); }
  // Uniform in [0, n) without modulo bias (Lemire's method); n > 0.
  std::uint64_t below(std::uint64_t n) {
    __uint128_t m = static_cast<__uint128_t>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      std::uint64_t t = -n % n;
      while (low < t) {
        m = static_cast<__uint128_t>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }
  // Uniform in [lo, hi], inclusive; lo <= hi.
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  std::uint64_t state_;
};

}  // namespace pydmed
