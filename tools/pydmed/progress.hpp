#pragma once
// Where a long run is (issue 28), on standard error, never in the data outputs. On a terminal:
// one live line (slides done of total, items done of total where known, rate, elapsed, time
// left, the slide being worked on), redrawn at most 4 times a second and cleared before the
// summary. Not on a terminal (a log, CI, a job scheduler): a plain line when a slide finishes,
// else at most one line every 30 s, never a carriage return. --quiet: neither. --progress-json
// FILE: a small JSON file replaced atomically (at most once a second, and at the end).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "pydmed/progress_meter.hpp"

namespace pydmed::cli {

struct ProgressFlags {
  bool quiet = false;
  std::string json;
  void add_to(CLI::App* sub);
};

class Progress {
 public:
  // `items`: what is counted ("windows", "patches"); a total < 0: not known (not shown).
  Progress(const ProgressFlags& flags, std::string items, std::int64_t slides_total, std::int64_t items_total);
  // The same on `out`, a terminal or not, by `clock` (what the tests drive).
  Progress(const ProgressFlags& flags, std::string items, std::int64_t slides_total, std::int64_t items_total,
           std::ostream& out, bool terminal, ProgressMeter::Clock clock);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Said first on a resumed run: what earlier runs did (counted in the totals from then on).
  void resumed(std::int64_t slides_done, std::int64_t items_done);
  // `n` more items delivered; `current`: the slide being worked on ("" keeps the last).
  void add(std::int64_t n, const std::string& current = "");
  // A slide finished this run: `items` of it, in `seconds`.
  void slide_done(const std::string& name, std::int64_t items, double seconds);
  // Clears the live line and writes the JSON file a last time (before the summary).
  void finish();

 private:
  void tick(bool force);
  void write_json() const;

  ProgressFlags flags_;
  std::string items_;
  ProgressMeter meter_;
  std::ostream& out_;
  bool tty_;
  bool drawn_ = false, finished_ = false;
  std::chrono::steady_clock::time_point last_draw_, last_line_, last_json_;
};

}  // namespace pydmed::cli
