#pragma once
// LabelBalancedDL's scheduling: the loaded patients' labels stay as even as the dataset allows.
// The first schedule spreads the collectors over the labels in turn; each swap takes out a
// random loaded patient and loads one of the label least represented among those that stay,
// preferring the patients of that label scheduled least. Use it as LightDL's scheduler.
#include <memory>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/scheduler.hpp"

namespace pydmed {

class LabelBalancedScheduler : public Scheduler {
 public:
  explicit LabelBalancedScheduler(LabelFn label) : label_(std::move(label)) {}
  std::vector<std::int64_t> initial_schedule(const SchedulerView& dl, Rng& rng) override;
  SchedDecision schedule(const SchedulerView& dl, Rng& rng) override;
  std::optional<std::int64_t> replacement(const SchedulerView& dl, Rng& rng) override;

 private:
  // A waiting patient (or `also`), not in `loaded`, of the label least represented among `loaded`.
  std::optional<std::int64_t> pick(const SchedulerView& dl, const std::vector<std::int64_t>& loaded, Rng& rng,
                                   std::int64_t also = -1) const;
  LabelFn label_;
};

inline std::shared_ptr<Scheduler> label_balanced_scheduler(LabelFn label) {
  return std::make_shared<LabelBalancedScheduler>(std::move(label));
}

}  // namespace pydmed
