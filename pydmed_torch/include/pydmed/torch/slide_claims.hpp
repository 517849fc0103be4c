#pragma once
// The slides of one job shared out among ranks through c10d's store (what `pydmed embed` runs
// on under torchrun): each rank claims the next slide no rank holds, in the caller's order
// (largest first, so that the ranks end together), and holds it by beating; a slide whose holder
// has not beaten for `lease` seconds, by the observer's own clock (no clock is compared across
// machines), is claimed by one other rank, with a higher claim number. Before it publishes a
// slide's file a rank checks that its claim is still the slide's (the fence: a rank that lost its
// slide drops its copy), then marks the slide done; done slides are never claimed again.
//
// Only the store's add, get, set and check are used: one winner per claim comes from add's
// atomic count (a fresh claim counts 1; a takeover is the bump that moves a stale beat on by
// one), never from comparing values written by clocks.
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pydmed/arg.hpp"

namespace pydmed {

struct ClaimOptions {
  ClaimOptions() {}
  PYDMED_ARG(double, lease_s) = 60;               // a holder silent this long loses its slide
  PYDMED_ARG(std::string, prefix) = "pydmed/";  // the job's keys in the store
};

struct Claim {
  std::size_t slide = 0;
  std::int64_t number = 0;  // unique among the slide's claims: name the slide's .part after it
};

// One rank's view. Not thread-safe: one thread claims, beats and commits (the store client
// itself is shared with c10d's other users as they allow).
class SlideClaims {
 public:
  SlideClaims(c10::intrusive_ptr<c10d::Store> store, std::size_t slides, ClaimOptions options = {});

  // A slide for this rank: one never claimed, else one whose holder's lease ran out (looked at
  // again each call). nullopt: none is free now; finished() says whether any is left at all.
  std::optional<Claim> try_next();
  // try_next, waiting (half a second between looks, less for short leases) while every slide left
  // is held.
  // nullopt: every slide is done.
  std::optional<Claim> next();
  void beat(const Claim& c);  // call well within the lease while working on the slide
  // True when `c` is still the slide's claim: publish the file, then call done(c). False: another
  // rank holds it now (this rank's lease ran out); drop this rank's copy.
  bool still_holds(const Claim& c);
  void done(const Claim& c);
  bool is_done(std::size_t slide);
  bool finished();  // every slide done

 private:
  std::string key(const char* what, std::size_t slide) const;
  std::int64_t number(const std::string& key);  // a counter's value, 0 when absent
  void put(const std::string& key, const std::string& value);  // set, and applied before it returns

  c10::intrusive_ptr<c10d::Store> store_;
  std::size_t slides_;
  ClaimOptions o_;
  // What this rank last saw of each held slide's beat, and when (its own monotonic clock).
  struct Seen {
    std::int64_t beat = -1;
    std::chrono::steady_clock::time_point since;
  };
  std::map<std::size_t, Seen> seen_;
  std::vector<bool> done_;   // slides known done (for good: never asked again)
  bool fresh_done_ = false;  // the counter of never-claimed slides has run past the end
};

}  // namespace pydmed
