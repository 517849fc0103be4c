// Splits and balancing: seeded, and no patient is ever dropped by rounding.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "pydmed/data/dataset.hpp"
#include "pydmed/error.hpp"
#include "pydmed/random.hpp"

namespace pydmed {
namespace {

void check_percentages(const std::vector<double>& pct) {
  if (pct.empty()) throw DatasetError("split percentages are empty");
  for (double p : pct) {
    if (!(p >= 0) || !std::isfinite(p)) {
      throw DatasetError("split percentage " + std::to_string(p) + " is not a non-negative number");
    }
  }
  const double sum = std::accumulate(pct.begin(), pct.end(), 0.0);
  if (std::abs(sum - 100.0) > 1e-6) {
    throw DatasetError("split percentages sum to " + std::to_string(sum) + ", not 100");
  }
}

// Largest-remainder rounding: sizes sum to n exactly; ties go to the earlier part.
std::vector<std::size_t> part_sizes(std::size_t n, const std::vector<double>& pct) {
  std::vector<std::size_t> sizes(pct.size());
  std::vector<std::pair<double, std::size_t>> rem;
  std::size_t given = 0;
  for (std::size_t i = 0; i < pct.size(); ++i) {
    const double exact = pct[i] * double(n) / 100.0;
    sizes[i] = static_cast<std::size_t>(std::floor(exact));
    given += sizes[i];
    rem.push_back({exact - double(sizes[i]), i});
  }
  std::stable_sort(rem.begin(), rem.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; given < n; ++k, ++given) sizes[rem[k % rem.size()].second]++;
  return sizes;
}

void deal(std::vector<Patient> patients, const std::vector<double>& pct, Rng& rng,
          std::vector<std::vector<Patient>>& parts) {
  std::sort(patients.begin(), patients.end());  // input order must not change the result
  rng.shuffle(patients);
  const auto sizes = part_sizes(patients.size(), pct);
  std::size_t at = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    for (std::size_t k = 0; k < sizes[i]; ++k) parts[i].push_back(std::move(patients[at++]));
  }
}

std::vector<Dataset> to_datasets(const std::string& name, std::vector<std::vector<Patient>> parts) {
  std::vector<Dataset> out;
  for (auto& p : parts) out.emplace_back(name, std::move(p));
  return out;
}

std::map<nlohmann::json, std::vector<Patient>> by_label(const std::vector<Patient>& patients, const LabelFn& label) {
  if (!label) throw DatasetError("no label function given");
  std::map<nlohmann::json, std::vector<Patient>> groups;
  for (const Patient& p : patients) groups[label(p)].push_back(p);
  return groups;
}

}  // namespace

std::vector<Dataset> Dataset::splits_from(const std::vector<double>& pct, std::uint64_t seed) const {
  check_percentages(pct);
  Rng rng({seed, 0x5B117});
  std::vector<std::vector<Patient>> parts(pct.size());
  deal(list_patients, pct, rng, parts);
  return to_datasets(str_dsname, std::move(parts));
}

std::vector<Dataset> Dataset::labelbalanced_splits_from(const std::vector<double>& pct, const LabelFn& label,
                                                        std::uint64_t seed) const {
  check_percentages(pct);
  Rng rng({seed, 0x5B117, 0x1AB});
  std::vector<std::vector<Patient>> parts(pct.size());
  for (auto& [lbl, group] : by_label(list_patients, label)) deal(std::move(group), pct, rng, parts);
  return to_datasets(str_dsname, std::move(parts));
}

Dataset Dataset::shard(int rank, int world_size, const LabelFn& label) const {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    throw DatasetError("shard: rank " + std::to_string(rank) + " is not in [0, " + std::to_string(world_size) + ")");
  }
  std::vector<Patient> sorted = list_patients, order, mine;
  std::sort(sorted.begin(), sorted.end());
  if (label) {
    for (auto& [lbl, group] : by_label(sorted, label)) order.insert(order.end(), group.begin(), group.end());
  } else {
    order = std::move(sorted);
  }
  for (std::size_t i = std::size_t(rank); i < order.size(); i += std::size_t(world_size)) mine.push_back(order[i]);
  return Dataset(str_dsname, std::move(mine));
}

std::string Dataset::common_label_name() const {
  std::string key;
  for (const Patient& p : list_patients) {
    if (!p.labels.is_object() || p.labels.size() != 1) return "";
    if (key.empty()) key = p.labels.begin().key();
    if (p.labels.begin().key() != key) return "";
  }
  return key;
}

LabelFn Dataset::common_label() const {
  const std::string key = common_label_name();
  if (key.empty()) return nullptr;
  return [key](const Patient& p) { return p.labels.at(key); };
}

Dataset Dataset::balance_by_repeat(const LabelFn& label, std::int64_t newlen) const {
  if (list_patients.empty()) return *this;
  const auto groups = by_label(list_patients, label);
  if (newlen <= 0) {
    newlen = 1;
    for (auto& [l, g] : groups) newlen = std::lcm(newlen, static_cast<std::int64_t>(g.size()));
  }
  std::int64_t max_id = 0;
  for (const Patient& p : list_patients) {
    if (p.int_uniqueid < 0) throw DatasetError("balance_by_repeat needs non-negative patient ids");
    max_id = std::max(max_id, p.int_uniqueid);
  }
  std::int64_t scale = 10;
  while (scale <= max_id) scale *= 10;
  std::vector<Patient> out;
  for (const Patient& p : list_patients) {
    const auto copies = newlen / static_cast<std::int64_t>(groups.at(label(p)).size());
    for (std::int64_t k = 0; k < std::max<std::int64_t>(copies, 1); ++k) {
      Patient c = p;
      c.int_uniqueid = k * scale + p.int_uniqueid;
      c.infos["original_id"] = p.int_uniqueid;
      out.push_back(std::move(c));
    }
  }
  return Dataset(str_dsname, std::move(out));
}

}  // namespace pydmed
