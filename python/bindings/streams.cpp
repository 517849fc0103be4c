// pydmed_torch.stream() and sliding_window(): a ChunkIterator over a new process tree. Options
// are the command-line flags' names with underscores, checked by the core (StreamSettings,
// WindowSettings: the same one-line messages).
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "chunk_iterator.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/error.hpp"
#include "settings.hpp"

namespace py = pybind11;

namespace pydmed::python {

namespace {

// The labels asked for: a patient label's name, or annotation classes (LabelCoder).
struct LabelSettings {
  std::string label;
  std::vector<std::string> roi_classes;
  void take(Kwargs& k) { k.take("label", &label), k.take("roi_classes", &roi_classes); }
};

// The settings a call starts from: its `settings=` object's, else the defaults.
template <class S>
S base_settings(Kwargs& k, const char* name) {
  S s;
  if (const py::object o = k.pop("settings"); !o.is_none()) {
    if (!py::isinstance<S>(o)) throw OptionsError("settings", std::string("must be a ") + name);
    s = o.cast<S>();
  }
  return s;
}

// The run's tree over `source`, its labels numbered over this rank's share.
template <class S>
std::unique_ptr<ChunkIterator> start(const py::object& source, const S& settings, Limits limits, bool crc,
                                     const LabelSettings& labels, InfoContext::Columns columns) {
  settings.check();  // before the source is read (make() checks again)
  Dataset dataset;
  if (py::isinstance<Dataset>(source)) {
    dataset = source.cast<Dataset>();
  } else {
    const std::string path = path_arg(source);
    py::gil_scoped_release nogil;  // reading the source opens every slide's header
    dataset = dataset_from_source(path);
  }
  // Numbered over the whole dataset, as LightDL does: every rank's codes and names agree.
  LabelCoder coder(dataset, labels.label, labels.roi_classes);
  std::unique_ptr<LightDLCore> dl;
  {
    py::gil_scoped_release nogil;
    dl = settings.make(std::move(dataset));
  }
  return std::make_unique<ChunkIterator>(std::move(dl), limits, crc, std::move(coder), columns);
}

std::unique_ptr<ChunkIterator> stream(const py::object& source, py::kwargs kw) {
  Kwargs k("stream", std::move(kw));
  StreamSettings s = base_settings<StreamSettings>(k, "StreamSettings");
  take_stream(k, &s);
  LabelSettings labels;
  labels.take(k);
  Limits limits;
  bool crc = false;
  k.take("count", &limits.count), k.take("seconds", &limits.seconds), k.take("crc32", &crc);
  k.done();
  if (limits.seconds < 0) throw OptionsError("seconds", "must not be negative");
  return start(source, s, limits, crc, labels, InfoContext::Columns::kStream);
}

std::unique_ptr<ChunkIterator> sliding_window(const py::object& source, py::kwargs kw) {
  Kwargs k("sliding_window", std::move(kw));
  WindowSettings s = base_settings<WindowSettings>(k, "WindowSettings");
  take_window(k, &s);
  LabelSettings labels;
  labels.take(k);
  bool crc = false;
  k.take("crc32", &crc);
  k.done();
  return start(source, s, Limits{}, crc, labels, InfoContext::Columns::kWindow);
}

}  // namespace

void add_streams(py::module_& m) {
  add_infos(m);
  add_settings(m);
  py::class_<ChunkIterator>(m, "ChunkIterator", "(image, info) pairs from the loader's process tree")
      .def("__iter__", [](ChunkIterator& it) -> ChunkIterator& { return it; }, py::return_value_policy::reference)
      .def("__next__", &ChunkIterator::next)
      .def("next_batch", &ChunkIterator::next_batch, py::arg("batch_size"), py::arg("out") = py::none(),
           "(uint8 [k, H, W, 3], Infos) of up to batch_size, or None at the end; into `out`'s first rows if given")
      .def_property_readonly("patch_shape",
                             [](ChunkIterator& it) {
                               const PatchShape& s = it.loader().options().patch_shape();
                               return py::make_tuple(s.height, s.width, s.channels);
                             })
      .def_property_readonly("label_names", [](ChunkIterator& it) { return it.labels().names(); },
                             "what the label codes stand for: the classes, or the label's values sorted")
      .def("close", &ChunkIterator::close, "stops the process tree (also at the end, and when collected)")
      .def("__enter__", [](ChunkIterator& it) -> ChunkIterator& { return it; }, py::return_value_policy::reference)
      .def("__exit__", [](ChunkIterator& it, py::args) { it.close(); })
      .def("errors",
           [](ChunkIterator& it) {
             py::list out;
             for (const PatientError& e : it.loader().errors()) out.append(py::make_tuple(e.patient, e.message));
             return out;
           },
           "(patient, message) of each failure so far");
  m.def("stream", &stream, py::arg("source"),
        "Random patches from a Dataset, a manifest, a folder of slides or one slide: (uint8 [H, W, 3], info) pairs; "
        "options as keyword arguments, over a StreamSettings given as settings=");
  m.def("sliding_window", &sliding_window, py::arg("source"),
        "Every window of every slide once: (uint8 [K, K, 3], info) pairs; over a WindowSettings given as settings=");
}

}  // namespace pydmed::python
