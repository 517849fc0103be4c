#pragma once
// A batch's records as the Python face shows them: `info` dicts with the command line's TSV
// columns and "path", built only when asked. `Infos` is a lazy, columnar view of a batch: len,
// infos[i] (a dict), infos["x"] (a column), iteration, and `labels` (int64 [k]); it is no
// Sequence, so torch's DataLoader passes it through untouched instead of copying 64 dicts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/records.hpp"

namespace pydmed::python {

// What an info needs beside its record; one per run, shared by its batches' views (which may
// outlive the run). Touched with the GIL held only.
class InfoContext {
 public:
  enum class Columns { kStream, kWindow };  // pydmed stream's or pydmed sliding-window's
  InfoContext(Dataset dataset, Columns columns, std::string label_key)
      : dataset_(std::move(dataset)), columns_(columns), label_key_(std::move(label_key)) {}
  pybind11::dict describe(const ChunkRecord& r, std::optional<std::uint32_t> crc32);
  std::vector<std::string> keys() const;

 private:
  pybind11::object label_of(const Patient& p);  // the patient's raw label, converted once
  Dataset dataset_;
  Columns columns_;
  std::string label_key_;  // the patient label put in each info ("": none)
  std::map<std::int64_t, pybind11::object> labels_;
};

class Infos {
 public:
  Infos(std::shared_ptr<InfoContext> ctx, std::vector<ChunkRecord> records, std::vector<std::uint32_t> crc32,
        pybind11::array_t<std::int64_t> labels)
      : ctx_(std::move(ctx)), records_(std::move(records)), crc32_(std::move(crc32)), labels_(std::move(labels)) {}
  std::size_t size() const { return records_.size(); }
  pybind11::dict at(std::ptrdiff_t i) const;
  pybind11::list column(const std::string& key) const;
  pybind11::list to_list() const;
  const pybind11::array_t<std::int64_t>& labels() const { return labels_; }
  std::vector<std::string> keys() const;

 private:
  std::shared_ptr<InfoContext> ctx_;
  std::vector<ChunkRecord> records_;
  std::vector<std::uint32_t> crc32_;  // empty: not asked
  pybind11::array_t<std::int64_t> labels_;
};

void add_infos(pybind11::module_& m);

}  // namespace pydmed::python
