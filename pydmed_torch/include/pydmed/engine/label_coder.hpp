#pragma once
// Each SmallChunk's label as an integer, for a batch's label column: its patient's label, or
// its annotation class. One rule for the C++ face (LightDL's Batch::labels) and the Python face
// (StreamDataset's labels).
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/records.hpp"

namespace pydmed {

class LabelCoder {
 public:
  // `roi_classes` non-empty: a SmallChunk's annotation class (ChunkRecord::roi) as an index into
  // it; a class not in it is an Error naming it. Else the patient label `key` ("": the dataset's
  // label when every patient has exactly one and the same, else none): integer labels as they
  // are, other values their index in names() (sorted). A patient without it is a DatasetError.
  LabelCoder(const Dataset& dataset, std::string key, std::vector<std::string> roi_classes = {});
  LabelCoder() = default;  // no labels

  bool active() const { return by_roi_ || !key_.empty(); }
  const std::string& key() const { return key_; }  // the patient label used ("": none, or by class)
  // What each code stands for (names()[code]): the classes, or a text label's values sorted;
  // empty for integer labels, whose codes are their values.
  const std::vector<std::string>& names() const { return names_; }
  std::int64_t code(const ChunkRecord& r) const;  // active() only

 private:
  std::string key_;
  bool by_roi_ = false;
  std::vector<std::string> names_;
  std::unordered_map<std::int64_t, std::int64_t> by_patient_;
};

}  // namespace pydmed
