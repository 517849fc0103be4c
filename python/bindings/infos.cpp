#include "infos.hpp"

#include <pybind11/stl.h>

#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/error.hpp"

namespace py = pybind11;

namespace pydmed::python {

namespace {

py::object mpp_or_none(double mpp) { return mpp > 0 ? py::object(py::float_(mpp)) : py::none(); }

// pydmed stream's TSV columns.
void stream_columns(const ChunkRecord& r, py::dict& d) {
  d["patient"] = r.patient, d["visit"] = r.visit;
  d["bigchunk_x"] = r.bigchunk.x, d["bigchunk_y"] = r.bigchunk.y;
  d["x"] = r.x, d["y"] = r.y, d["level"] = r.level, d["width"] = r.width, d["height"] = r.height;
  d["mpp"] = mpp_or_none(r.mpp);
  d["roi"] = r.roi();
  d["resample"] = r.cut.resample == PatchCut::Resample::kPatch ? "patch" : "bigchunk";
  d["bigchunk_width"] = r.cut.read_width, d["bigchunk_height"] = r.cut.read_height;
  d["bigchunk_target_width"] = r.bigchunk.width, d["bigchunk_target_height"] = r.bigchunk.height;
  d["x_in_bigchunk"] = r.cut.x, d["y_in_bigchunk"] = r.cut.y;
}

// pydmed sliding-window's TSV columns, with the window's row and column.
void window_columns(const ChunkRecord& r, py::dict& d) {
  const WindowInfo w = WindowInfo::from_json(r.info_json);
  d["patient"] = r.patient, d["x"] = r.x, d["y"] = r.y, d["level"] = r.level;
  d["width"] = r.width, d["height"] = r.height;
  d["last_row"] = int(w.last_row), d["last_col"] = int(w.last_col);  // 0 or 1, as in the TSV
  d["overlap_y"] = w.overlap_y, d["overlap_x"] = w.overlap_x;
  d["mpp"] = mpp_or_none(r.mpp);
  d["roi"] = r.roi();
  d["row"] = w.row, d["col"] = w.col;
}

}  // namespace

py::dict InfoContext::describe(const ChunkRecord& r, std::optional<std::uint32_t> crc32) {
  py::dict d;
  (columns_ == Columns::kStream ? stream_columns : window_columns)(r, d);
  const Patient& p = dataset_.patient(r.patient);
  d["path"] = p.slide_path();
  if (!label_key_.empty()) d["label"] = label_of(p);
  if (crc32) d["crc32"] = *crc32;
  return d;
}

py::object InfoContext::label_of(const Patient& p) {
  auto it = labels_.find(p.int_uniqueid);
  if (it != labels_.end()) return it->second;
  if (!p.labels.contains(label_key_))
    throw DatasetError("patient " + std::to_string(p.int_uniqueid) + " has no label '" + label_key_ + "'");
  py::object v = py::module_::import("json").attr("loads")(p.labels[label_key_].dump());
  return labels_.emplace(p.int_uniqueid, v).first->second;
}

py::dict Infos::at(std::ptrdiff_t i) const {
  const auto n = std::ptrdiff_t(records_.size());
  if (i < 0) i += n;
  if (i < 0 || i >= n) throw py::index_error("info index out of range");
  const auto k = std::size_t(i);
  return ctx_->describe(records_[k], crc32_.empty() ? std::nullopt : std::optional<std::uint32_t>(crc32_[k]));
}

py::list Infos::column(const std::string& key) const {
  py::list out;
  const py::str k(key);
  for (std::size_t i = 0; i < records_.size(); ++i) {
    py::dict d = at(std::ptrdiff_t(i));
    if (!d.contains(k)) throw py::key_error(key);
    out.append(d[k]);
  }
  return out;
}

py::list Infos::to_list() const {
  py::list out;
  for (std::size_t i = 0; i < records_.size(); ++i) out.append(at(std::ptrdiff_t(i)));
  return out;
}

std::vector<std::string> Infos::keys() const {
  std::vector<std::string> out;
  if (records_.empty()) return out;
  for (const auto& [k, v] : at(0)) out.push_back(py::str(k));
  return out;
}

void add_infos(py::module_& m) {
  py::class_<Infos>(m, "Infos",
                    "A batch's records, built when asked: infos[i] a dict, infos['x'] a column, iteration, labels")
      .def("__len__", &Infos::size)
      .def("__getitem__", &Infos::at, py::arg("i"))
      .def("__getitem__", &Infos::column, py::arg("key"))
      .def("__iter__",
           [](const Infos& infos) { return py::iter(infos.to_list()); })
      .def("keys", &Infos::keys)
      .def("to_list", &Infos::to_list, "the infos as a list of dicts")
      .def_property_readonly("labels", &Infos::labels,
                             "int64 [k]: each SmallChunk's label code (patient label or annotation class), -1: none")
      .def("__repr__", [](const Infos& infos) { return "<Infos of " + std::to_string(infos.size()) + " SmallChunks>"; });
}

}  // namespace pydmed::python
