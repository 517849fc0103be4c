#include "pydmed/engine/label_coder.hpp"

#include <algorithm>
#include <set>

#include "pydmed/error.hpp"

namespace pydmed {

namespace {

std::string value_name(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

LabelCoder::LabelCoder(const Dataset& dataset, std::string key, std::vector<std::string> roi_classes)
    : key_(std::move(key)) {
  if (!roi_classes.empty()) {
    by_roi_ = true, key_.clear(), names_ = std::move(roi_classes);
    return;
  }
  if (key_.empty()) key_ = dataset.common_label_name();
  if (key_.empty()) return;
  std::set<std::string> names;
  bool all_int = true;
  for (const Patient& p : dataset.list_patients) {
    if (!p.labels.contains(key_))
      throw DatasetError("patient " + std::to_string(p.int_uniqueid) + " has no label '" + key_ + "'");
    const auto& v = p.labels[key_];
    all_int &= v.is_number_integer();
    names.insert(value_name(v));
  }
  if (!all_int) names_.assign(names.begin(), names.end());  // integers are their own codes
  for (const Patient& p : dataset.list_patients) {
    const auto& v = p.labels[key_];
    by_patient_[p.int_uniqueid] =
        all_int ? v.get<std::int64_t>()
                : std::int64_t(std::lower_bound(names_.begin(), names_.end(), value_name(v)) - names_.begin());
  }
}

std::int64_t LabelCoder::code(const ChunkRecord& r) const {
  if (!by_roi_) return by_patient_.at(r.patient);
  const std::string cls = r.roi();  // "": outside every annotation
  const auto it = std::find(names_.begin(), names_.end(), cls);
  if (it == names_.end())
    throw Error("patient " + std::to_string(r.patient) + ": annotation class '" + cls +
                "' is not in the label classes (roi_classes)");
  return std::int64_t(it - names_.begin());
}

}  // namespace pydmed
