#include "pydmed/progress_meter.hpp"

#include <cmath>
#include <cstdio>

namespace pydmed {

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

nlohmann::json RunProgress::to_json() const {
  auto known = [](std::int64_t v) { return v >= 0 ? nlohmann::json(v) : nlohmann::json(); };
  return {{"slides_done", slides_total >= 0 ? nlohmann::json(slides_done) : nlohmann::json()},
          {"slides_total", known(slides_total)},
          {"items_done", items_done},
          {"items_total", known(items_total)},
          {"rate_per_s", rate_per_s},
          {"elapsed_s", elapsed_s},
          {"eta_s", eta_s ? nlohmann::json(*eta_s) : nlohmann::json()},
          {"current", current}};
}

std::string RunProgress::line(const std::string& items) const {
  std::string s = (slides_total >= 0 ? std::to_string(slides_done) + "/" + std::to_string(slides_total) + " slides, "
                                     : std::string()) +
                  std::to_string(items_done) + (items_total >= 0 ? "/" + std::to_string(items_total) : "") + " " +
                  items;
  char r[32];
  std::snprintf(r, sizeof r, "%.0f", rate_per_s);
  s += ", " + std::string(r) + "/s, " + duration_text(elapsed_s);
  if (eta_s) s += ", " + duration_text(*eta_s) + " left";
  if (!current.empty()) s += ", " + current;
  return s;
}

ProgressMeter::ProgressMeter(std::int64_t slides_total, std::int64_t items_total, Clock clock)
    : clock_(std::move(clock)), t0_(clock_()), slides_total_(slides_total), items_total_(items_total) {}

void ProgressMeter::resumed(std::int64_t slides_done, std::int64_t items_done) {
  slides_done_ = slides_done, items_done_ = earlier_items_ = items_done;
}

void ProgressMeter::add(std::int64_t items, const std::string& current) {
  items_done_ += items;
  if (!current.empty()) current_ = current;
}

RunProgress ProgressMeter::now() const {
  RunProgress p;
  p.slides_done = slides_done_, p.slides_total = slides_total_;
  p.items_done = items_done_, p.items_total = items_total_;
  p.elapsed_s = std::chrono::duration<double>(clock_() - t0_).count();
  p.rate_per_s = p.elapsed_s > 0 ? double(items_done_ - earlier_items_) / p.elapsed_s : 0;
  if (items_total_ >= 0 && p.rate_per_s > 0) p.eta_s = double(items_total_ - items_done_) / p.rate_per_s;
  p.current = current_;
  return p;
}

}  // namespace pydmed
