// PyDmed's data model from Python: Record, Patient, Dataset, manifests and splits, for those who
// build their own datasets. Values (copies), as PyDmed's are plain objects: a Dataset handed to
// stream() is copied into the run. Labels, infos and record infos cross as JSON values.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "pydmed/data/manifest.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/error.hpp"

namespace py = pybind11;

namespace pydmed::python {

namespace {

nlohmann::json to_json(const py::object& o) {
  const std::string text = py::str(py::module_::import("json").attr("dumps")(o));
  return nlohmann::json::parse(text);
}
// A dict's JSON: labels and infos are name -> value.
nlohmann::json dict_json(const py::object& o, const char* what) {
  if (!py::isinstance<py::dict>(o)) throw OptionsError(what, "must be a dict");
  return to_json(o);
}

py::object from_json(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

// A split's or a balancing's label: a label's name, or a function of the Patient.
LabelFn label_fn(const py::object& label) {
  if (py::isinstance<py::str>(label)) {
    const std::string key = label.cast<std::string>();
    return [key](const Patient& p) {
      if (!p.labels.contains(key))
        throw DatasetError("patient " + std::to_string(p.int_uniqueid) + " has no label '" + key + "'");
      return p.labels[key];
    };
  }
  if (!PyCallable_Check(label.ptr())) throw OptionsError("label", "must be a label's name or a function of a Patient");
  return [label](const Patient& p) { return to_json(label(p)); };  // called with the GIL held
}

}  // namespace

void add_dataset(py::module_& m) {
  py::class_<Record>(m, "Record", "A patient's file (a slide, say): rootdir joined with relativedir")
      .def(py::init([](std::string relativedir, std::string rootdir, const py::object& infos) {
             Record r{std::move(rootdir), std::move(relativedir)};
             if (!infos.is_none()) r.dict_infos = dict_json(infos, "infos");
             return r;
           }),
           py::arg("relativedir"), py::arg("rootdir") = "", py::arg("infos") = py::none())
      .def_readwrite("rootdir", &Record::rootdir)
      .def_readwrite("relativedir", &Record::relativedir)
      .def_property(
          "infos", [](const Record& r) { return from_json(r.dict_infos); },
          [](Record& r, const py::object& v) { r.dict_infos = dict_json(v, "infos"); })
      .def_property_readonly("path", &Record::path)
      .def("__repr__", [](const Record& r) { return "Record(" + std::string(py::repr(py::str(r.path()))) + ")"; });

  py::class_<Patient>(m, "Patient", "A patient: an integer id, named records, labels and infos")
      .def(py::init([](std::int64_t id, std::map<std::string, Record> records, const py::object& labels,
                       const py::object& infos) {
             Patient p;
             p.int_uniqueid = id, p.dict_records = std::move(records);
             if (!labels.is_none()) p.labels = dict_json(labels, "labels");
             if (!infos.is_none()) p.infos = dict_json(infos, "infos");
             return p;
           }),
           py::arg("id"), py::arg("records"), py::arg("labels") = py::none(), py::arg("infos") = py::none())
      .def_readwrite("id", &Patient::int_uniqueid)
      .def_readwrite("records", &Patient::dict_records)
      .def_property(
          "labels", [](const Patient& p) { return from_json(p.labels); },
          [](Patient& p, const py::object& v) { p.labels = dict_json(v, "labels"); })
      .def_property(
          "infos", [](const Patient& p) { return from_json(p.infos); },
          [](Patient& p, const py::object& v) { p.infos = dict_json(v, "infos"); })
      .def_property_readonly("slide_path", &Patient::slide_path)
      .def("__repr__", [](const Patient& p) { return "Patient(" + std::to_string(p.int_uniqueid) + ")"; });

  py::class_<Dataset>(m, "Dataset", "PyDmed's dataset: a named list of patients")
      .def(py::init<std::string, std::vector<Patient>>(), py::arg("name"), py::arg("patients"))
      .def_readwrite("name", &Dataset::str_dsname)
      .def_readwrite("patients", &Dataset::list_patients, "a copy: assign a list to change it")
      .def("__len__", &Dataset::size)
      .def("patient", &Dataset::patient, py::arg("id"))
      .def("splits_from", &Dataset::splits_from, py::arg("percentages"), py::arg("seed") = 0,
           "a seeded random partition by percentages (summing to 100)")
      .def(
          "labelbalanced_splits_from",
          [](const Dataset& d, const std::vector<double>& percentages, const py::object& label, std::uint64_t seed) {
            return d.labelbalanced_splits_from(percentages, label_fn(label), seed);
          },
          py::arg("percentages"), py::arg("label"), py::arg("seed") = 0,
          "the same, each part with the labels in the dataset's proportions (label: a name or a function)")
      .def(
          "balance_by_repeat",
          [](const Dataset& d, const py::object& label, std::int64_t n) { return d.balance_by_repeat(label_fn(label), n); },
          py::arg("label"), py::arg("newlen_each_class") = 0)
      .def(
          "shard",
          [](const Dataset& d, int rank, int world_size, const py::object& label) {
            return d.shard(rank, world_size, label.is_none() ? LabelFn() : label_fn(label));
          },
          py::arg("rank"), py::arg("world_size"), py::arg("label") = py::none(), "this rank's share")
      .def("__repr__", [](const Dataset& d) {
        return "Dataset(" + std::string(py::repr(py::str(d.str_dsname))) + ", " + std::to_string(d.size()) +
               " patients)";
      });

  m.def("read_manifest", [](const py::object& path) { return read_manifest(path_arg(path)); }, py::arg("path"));
  m.def("write_manifest", [](const Dataset& d, const py::object& path) { write_manifest(d, path_arg(path)); },
        py::arg("dataset"), py::arg("path"));
  m.def(
      "dataset_from_source",
      [](const py::object& source) {
        const std::string path = path_arg(source);
        py::gil_scoped_release nogil;
        return dataset_from_source(path);
      },
      py::arg("source"), "a manifest, a folder of slides (one patient each) or one slide");
}

}  // namespace pydmed::python
