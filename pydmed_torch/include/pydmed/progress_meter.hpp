#pragma once
// Where a long run is (issue 28): slides and items done of their totals, rate, elapsed and time
// left, and the slide being worked on. What `pydmed`'s live line and --progress-json show, and
// what a training program polls to draw its own (LightDLCore::progress, StreamCollector::progress).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace pydmed {

struct RunProgress {
  // slides_total -1: not counted. (A loader counts its patients; a random stream finishes none.)
  std::int64_t slides_done = 0, slides_total = -1;
  std::int64_t items_done = 0, items_total = -1;    // items: windows, patches; -1: total not known
  double rate_per_s = 0;  // items this run per second of this run (a resumed run's earlier ones not counted)
  double elapsed_s = 0;
  std::optional<double> eta_s;  // where a total is known and items came
  std::string current;          // the slide of the last item, "" before any

  // {"slides_done", "slides_total", "items_done", "items_total", "rate_per_s", "elapsed_s",
  // "eta_s", "current"}: what is not known is null.
  nlohmann::json to_json() const;
  // "3/5 slides, 1200/4000 windows, 410/s, 0:03, 0:07 left, slide_003.tiff"
  std::string line(const std::string& items) const;
};

// Counts as a run goes and turns them into a RunProgress. Not thread-safe: one owner.
class ProgressMeter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  ProgressMeter(std::int64_t slides_total, std::int64_t items_total, Clock clock = std::chrono::steady_clock::now);

  void resumed(std::int64_t slides_done, std::int64_t items_done);  // what earlier runs did
  void add(std::int64_t items, const std::string& current = "");   // "" keeps the last
  void slide_done() { ++slides_done_; }
  RunProgress now() const;
  std::chrono::steady_clock::time_point time() const { return clock_(); }

 private:
  Clock clock_;
  std::chrono::steady_clock::time_point t0_;
  std::int64_t slides_total_, items_total_;
  std::int64_t slides_done_ = 0, items_done_ = 0, earlier_items_ = 0;
  std::string current_;
};

// "1:05", "2:03:04"; "?" for a negative or infinite number of seconds.
std::string duration_text(double seconds);

}  // namespace pydmed
