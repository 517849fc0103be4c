#include "progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "pydmed/output_file.hpp"
#include "pydmed/slide/remote.hpp"

namespace pydmed::cli {

void ProgressFlags::add_to(CLI::App* sub) {
  sub->add_flag("--quiet", quiet, "no progress on standard error (errors and the summary stay)");
  sub->add_option("--progress-json", json,
                  "keep this JSON file up to date with the run's progress (slides_done, slides_total, items_done, "
                  "items_total, rate_per_s, elapsed_s, eta_s, current)");
}

Progress::Progress(const ProgressFlags& flags, std::string items, std::int64_t slides_total, std::int64_t items_total)
    : Progress(flags, std::move(items), slides_total, items_total, std::cerr, ::isatty(STDERR_FILENO) == 1,
               std::chrono::steady_clock::now) {}

Progress::Progress(const ProgressFlags& flags, std::string items, std::int64_t slides_total, std::int64_t items_total,
                   std::ostream& out, bool terminal, ProgressMeter::Clock clock)
    : flags_(flags),
      items_(std::move(items)),
      meter_(slides_total, items_total, std::move(clock)),
      out_(out),
      tty_(terminal),
      last_draw_(meter_.time()),
      last_line_(last_draw_),
      last_json_(last_draw_ - std::chrono::seconds(1)) {
  if (!flags_.json.empty()) write_json();  // an unwritable path fails now, not at the end
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {
  }
}

void Progress::resumed(std::int64_t slides_done, std::int64_t items_done) {
  meter_.resumed(slides_done, items_done);
  if (!flags_.quiet) {
    const RunProgress p = meter_.now();
    out_ << "resuming: "
         << (p.slides_total >= 0 ? std::to_string(slides_done) + " of " + std::to_string(p.slides_total) + " slides and "
                                 : std::string())
         << items_done << " " << items_ << " done earlier\n";
  }
}

void Progress::add(std::int64_t n, const std::string& current) {
  meter_.add(n, redact_url(current));  // a URL without its query
  tick(false);
}

void Progress::slide_done(const std::string& name, std::int64_t items, double s) {
  meter_.slide_done();
  if (!flags_.quiet && !tty_) {
    const RunProgress p = meter_.now();
    char b[64];
    std::snprintf(b, sizeof b, "%.1f", s);
    out_ << "finished " << redact_url(name) << ": " << items << " " << items_ << " in " << b << " s (" << p.slides_done << "/"
         << p.slides_total << " slides)\n";
    last_line_ = meter_.time();
  }
  tick(true);
}

void Progress::tick(bool force) {
  const auto now = meter_.time();
  if (!flags_.quiet) {
    if (tty_ && (force || now - last_draw_ >= std::chrono::milliseconds(250))) {
      out_ << "\r\033[K" << meter_.now().line(items_) << std::flush;
      drawn_ = true;
      last_draw_ = now;
    } else if (!tty_ && now - last_line_ >= std::chrono::seconds(30)) {
      out_ << meter_.now().line(items_) << '\n';
      last_line_ = now;
    }
  }
  if (!flags_.json.empty() && (force || now - last_json_ >= std::chrono::seconds(1))) {
    write_json();
    last_json_ = now;
  }
}

void Progress::write_json() const {
  OutputFile f(flags_.json, OutputFile::Mode::Atomic);
  f.write(meter_.now().to_json().dump() + "\n");
  f.close();
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (drawn_) out_ << "\r\033[K" << std::flush;
  if (!flags_.json.empty()) write_json();
}

}  // namespace pydmed::cli
