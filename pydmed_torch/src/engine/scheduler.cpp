#include "pydmed/engine/scheduler.hpp"

#include <algorithm>

#include "pydmed/engine/options.hpp"

namespace pydmed {

std::vector<std::int64_t> Scheduler::initial_schedule(const SchedulerView& dl, Rng& rng) {
  std::vector<std::int64_t> ids = dl.waiting_patients();
  rng.shuffle(ids);
  ids.resize(std::min<std::size_t>(ids.size(), std::size_t(dl.options().num_bigchunkloaders())));
  return ids;
}

std::optional<std::int64_t> Scheduler::pick_waiting(const SchedulerView& dl, Rng& rng) {
  const std::vector<std::int64_t> waiting = dl.waiting_patients();
  if (waiting.empty()) return std::nullopt;
  std::vector<double> w(waiting.size());
  double total = 0;
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    const auto n = dl.schedcount(waiting[i]);
    total += w[i] = n == 0 ? 1e7 : 1.0 / (1.0 + double(n));
  }
  double r = rng.uniform() * total;
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    if ((r -= w[i]) < 0) return waiting[i];
  }
  return waiting.back();
}

std::optional<double> Scheduler::swap_interval(const SchedulerView& dl) { return dl.options().interval_resched(); }

SchedDecision Scheduler::schedule(const SchedulerView& dl, Rng& rng) {
  const std::vector<std::int64_t> loaded = dl.loaded_patients();
  if (loaded.empty()) return SchedDecision::keep();
  const std::int64_t out = loaded[rng.below(loaded.size())];
  const auto in = pick_waiting(dl, rng);
  if (!in) return SchedDecision::keep();
  return SchedDecision::swap(out, *in);
}

std::optional<std::int64_t> Scheduler::replacement(const SchedulerView& dl, Rng& rng) { return pick_waiting(dl, rng); }

}  // namespace pydmed
