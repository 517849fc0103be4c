#include "pydmed/torch/slide_claims.hpp"

#include <algorithm>
#include <thread>

namespace pydmed {

// Keys, per slide i:
//   claims/i   counter: each claim's number comes from it (add), so numbers never repeat;
//   holder/i   the number of the claim that holds the slide now;
//   beat/i     counter the holder bumps; a value b unchanged for a lease means the holder is gone,
//              and the rank whose own bump makes it b + 1 takes the slide over (one atomic add:
//              a rank that dies at any point leaves a beat that goes stale again);
//   done/i     set once the slide's file is published.

SlideClaims::SlideClaims(c10::intrusive_ptr<c10d::Store> store, std::size_t slides, ClaimOptions options)
    : store_(std::move(store)), slides_(slides), o_(std::move(options)) {}

std::string SlideClaims::key(const char* what, std::size_t slide) const {
  return o_.prefix() + what + "/" + std::to_string(slide);
}

std::int64_t SlideClaims::number(const std::string& k) { return store_->check({k}) ? store_->add(k, 0) : 0; }

// TCPStore's set returns before the server applies it; a get on the same connection comes back
// only after it, so another rank's next look sees the value (the fence depends on it).
void SlideClaims::put(const std::string& k, const std::string& value) {
  store_->set(k, std::vector<std::uint8_t>(value.begin(), value.end()));
  store_->get(k);
}

bool SlideClaims::is_done(std::size_t slide) {
  if (done_.empty()) done_.assign(slides_, false);
  if (!done_[slide] && store_->check({key("done", slide)})) done_[slide] = true;  // done is for good
  return done_[slide];
}

bool SlideClaims::finished() {
  for (std::size_t i = 0; i < slides_; ++i)
    if (!is_done(i)) return false;
  return true;
}

std::optional<Claim> SlideClaims::try_next() {
  // Slides never claimed come from one counter, in order: one store call, however many slides.
  while (!fresh_done_) {
    const std::int64_t k = store_->add(o_.prefix() + "next", 1) - 1;
    if (k >= std::int64_t(slides_)) {
      fresh_done_ = true;
      break;
    }
    const auto i = std::size_t(k);
    if (store_->add(key("claims", i), 1) == 1) {  // the first to count 1 has it
      put(key("holder", i), "1");
      store_->add(key("beat", i), 1);
      return Claim{i, 1};
    }
  }
  // Then slides held by ranks that fell silent.
  const auto now = std::chrono::steady_clock::now();
  const auto lease = std::chrono::duration<double>(o_.lease_s());
  for (std::size_t i = 0; i < slides_; ++i) {
    if (is_done(i)) continue;
    const std::string claims = key("claims", i);
    // Held: a holder whose beat has not moved for a lease, by this rank's clock, is gone.
    const std::int64_t beat = number(key("beat", i));
    Seen& s = seen_[i];
    if (beat != s.beat) {
      s = {beat, now};
      continue;
    }
    if (now - s.since < lease) continue;
    if (store_->add(key("beat", i), 1) != beat + 1) continue;  // the holder woke, or another rank took it
    if (is_done(i)) continue;  // its holder finished just before falling silent
    const std::int64_t n = store_->add(claims, 1);
    put(key("holder", i), std::to_string(n));
    seen_.erase(i);
    return Claim{i, n};
  }
  return std::nullopt;
}

std::optional<Claim> SlideClaims::next() {
  for (;;) {
    if (auto c = try_next()) return c;
    if (finished()) return std::nullopt;
    // Another rank's slide may end any moment: look again soon, a lease's eighth at most.
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(o_.lease_s() / 8, 0.5)));
  }
}

void SlideClaims::beat(const Claim& c) { store_->add(key("beat", c.slide), 1); }

bool SlideClaims::still_holds(const Claim& c) {
  if (!store_->check({key("holder", c.slide)})) return false;
  const std::vector<std::uint8_t> h = store_->get(key("holder", c.slide));
  return std::string(h.begin(), h.end()) == std::to_string(c.number);
}

void SlideClaims::done(const Claim& c) { put(key("done", c.slide), std::to_string(c.number)); }

}  // namespace pydmed
