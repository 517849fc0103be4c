#include "pydmed/extensions/label_balanced.hpp"

#include <algorithm>
#include <map>

#include "pydmed/engine/options.hpp"

namespace pydmed {

std::optional<std::int64_t> LabelBalancedScheduler::pick(const SchedulerView& dl,
                                                         const std::vector<std::int64_t>& loaded, Rng& rng,
                                                         std::int64_t also) const {
  std::map<nlohmann::json, std::vector<std::int64_t>> waiting;
  std::vector<std::int64_t> pool = dl.waiting_patients();
  if (also >= 0) pool.push_back(also);
  for (std::int64_t id : pool) {
    if (std::find(loaded.begin(), loaded.end(), id) == loaded.end())
      waiting[label_(dl.dataset().patient(id))].push_back(id);
  }
  if (waiting.empty()) return std::nullopt;
  std::map<nlohmann::json, int> count;
  for (const Patient& p : dl.dataset().list_patients) count[label_(p)] = 0;
  for (std::int64_t id : loaded) count[label_(dl.dataset().patient(id))]++;
  // The least represented labels that have someone waiting; a random one of them.
  int least = INT32_MAX;
  for (auto& [l, ids] : waiting) least = std::min(least, count[l]);
  std::vector<const std::vector<std::int64_t>*> candidates;
  for (auto& [l, ids] : waiting)
    if (count[l] == least) candidates.push_back(&ids);
  const auto& ids = *candidates[rng.below(candidates.size())];
  // Within it, the patients scheduled least; a random one of them.
  std::uint32_t fewest = UINT32_MAX;
  for (auto id : ids) fewest = std::min(fewest, dl.schedcount(id));
  std::vector<std::int64_t> best;
  for (auto id : ids)
    if (dl.schedcount(id) == fewest) best.push_back(id);
  return best[rng.below(best.size())];
}

std::vector<std::int64_t> LabelBalancedScheduler::initial_schedule(const SchedulerView& dl, Rng& rng) {
  // Each pick sees the ones chosen so far as loaded, so the labels fill in turn.
  std::vector<std::int64_t> chosen;
  for (int k = 0; k < dl.options().num_bigchunkloaders(); ++k) {
    const auto id = pick(dl, chosen, rng);
    if (!id) break;
    chosen.push_back(*id);
  }
  return chosen;
}

SchedDecision LabelBalancedScheduler::schedule(const SchedulerView& dl, Rng& rng) {
  std::vector<std::int64_t> loaded = dl.loaded_patients();
  if (loaded.empty()) return SchedDecision::keep();
  const std::size_t out = rng.below(loaded.size());
  const std::int64_t remove = loaded[out];
  loaded.erase(loaded.begin() + std::ptrdiff_t(out));
  // The one taken out may be the only one of its label: it competes for its own place.
  const auto in = pick(dl, loaded, rng, remove);
  if (!in || *in == remove) return SchedDecision::keep();
  return SchedDecision::swap(remove, *in);
}

std::optional<std::int64_t> LabelBalancedScheduler::replacement(const SchedulerView& dl, Rng& rng) {
  return pick(dl, dl.loaded_patients(), rng);
}

}  // namespace pydmed
