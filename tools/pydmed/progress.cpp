#include "progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "pydmed/output_file.hpp"

namespace pydmed::cli {

namespace {
using clock = std::chrono::steady_clock;
double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char b[32];
  const long t = std::lround(s);
  if (t >= 3600)
    std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
  return b;
}
}  // namespace

void ProgressFlags::add_to(CLI::App* sub) {
  sub->add_flag("--quiet", quiet, "no progress on standard error (errors and the summary stay)");
  sub->add_option("--progress-json", json,
                  "keep this JSON file up to date with the run's progress (slides_done, slides_total, items_done, "
                  "items_total, rate_per_s, elapsed_s, eta_s, current)");
}

Progress::Progress(const ProgressFlags& flags, std::string items, std::int64_t slides_total, std::int64_t items_total)
    : flags_(flags),
      items_(std::move(items)),
      slides_total_(slides_total),
      items_total_(items_total),
      tty_(::isatty(STDERR_FILENO) == 1),
      t0_(clock::now()),
      last_draw_(t0_),
      last_line_(t0_),
      last_json_(t0_ - std::chrono::seconds(1)) {
  if (!flags_.json.empty()) write_json();  // an unwritable path fails now, not at the end
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {
  }
}

void Progress::resumed(std::int64_t slides_done, std::int64_t items_done) {
  slides_done_ = slides_done, items_done_ = earlier_items_ = items_done;
  if (!flags_.quiet) {
    std::cerr << "resuming: "
              << (slides_total_ >= 0
                      ? std::to_string(slides_done) + " of " + std::to_string(slides_total_) + " slides and "
                      : std::string())
              << items_done << " " << items_ << " done earlier\n";
  }
}

void Progress::add(std::int64_t n, const std::string& current) {
  items_done_ += n;
  if (!current.empty()) current_ = current;
  tick(false);
}

void Progress::slide_done(const std::string& name, std::int64_t items, double s) {
  ++slides_done_;
  if (!flags_.quiet && !tty_) {
    char b[64];
    std::snprintf(b, sizeof b, "%.1f", s);
    std::cerr << "finished " << name << ": " << items << " " << items_ << " in " << b << " s (" << slides_done_ << "/"
              << slides_total_ << " slides)\n";
    last_line_ = clock::now();
  }
  tick(true);
}

std::string Progress::line() const {
  const double elapsed = seconds(clock::now() - t0_);
  const double rate = elapsed > 0 ? double(items_done_ - earlier_items_) / elapsed : 0;
  std::string s = (slides_total_ >= 0 ? std::to_string(slides_done_) + "/" + std::to_string(slides_total_) + " slides, "
                                      : std::string()) +
                  std::to_string(items_done_) + (items_total_ >= 0 ? "/" + std::to_string(items_total_) : "") + " " +
                  items_;
  char r[32];
  std::snprintf(r, sizeof r, "%.0f", rate);
  s += ", " + std::string(r) + "/s, " + duration_text(elapsed);
  if (items_total_ >= 0 && rate > 0) s += ", " + duration_text(double(items_total_ - items_done_) / rate) + " left";
  if (!current_.empty()) s += ", " + current_;
  return s;
}

void Progress::tick(bool force) {
  const auto now = clock::now();
  if (!flags_.quiet) {
    if (tty_ && (force || now - last_draw_ >= std::chrono::milliseconds(250))) {
      std::cerr << "\r\033[K" << line() << std::flush;
      drawn_ = true;
      last_draw_ = now;
    } else if (!tty_ && now - last_line_ >= std::chrono::seconds(30)) {
      std::cerr << line() << '\n';
      last_line_ = now;
    }
  }
  if (!flags_.json.empty() && (force || now - last_json_ >= std::chrono::seconds(1))) {
    write_json();
    last_json_ = now;
  }
}

void Progress::write_json() const {
  const double elapsed = seconds(clock::now() - t0_);
  const double rate = elapsed > 0 ? double(items_done_ - earlier_items_) / elapsed : 0;
  const nlohmann::json j = {
      {"slides_done", slides_total_ >= 0 ? nlohmann::json(slides_done_) : nlohmann::json()},
      {"slides_total", slides_total_ >= 0 ? nlohmann::json(slides_total_) : nlohmann::json()},
      {"items_done", items_done_},
      {"items_total", items_total_ >= 0 ? nlohmann::json(items_total_) : nlohmann::json()},
      {"rate_per_s", rate},
      {"elapsed_s", elapsed},
      {"eta_s",
       items_total_ >= 0 && rate > 0 ? nlohmann::json(double(items_total_ - items_done_) / rate) : nlohmann::json()},
      {"current", current_}};
  OutputFile f(flags_.json, OutputFile::Mode::Atomic);
  f.write(j.dump() + "\n");
  f.close();
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (drawn_) std::cerr << "\r\033[K" << std::flush;
  if (!flags_.json.empty()) write_json();
}

}  // namespace pydmed::cli
