// pydmed_torch.stream() and sliding_window(): a ChunkIterator over a new process tree. Options
// are the command-line flags' names with underscores, checked by the core (StreamSettings,
// WindowSettings: the same one-line messages).
#include <pybind11/stl.h>

#include <functional>

#include "bindings.hpp"
#include "chunk_iterator.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/run_settings.hpp"

namespace py = pybind11;

namespace pydmed::python {

namespace {

// Keyword arguments into settings, each by its name; an unknown name or a wrong type is an
// OptionsError naming it.
class Kwargs {
 public:
  Kwargs(const char* what, py::kwargs kw) : what_(what), kw_(std::move(kw)) {}
  template <class T>
  void take(const char* name, T* field) {
    if (!kw_.contains(name)) return;
    const py::object v = kw_[name];
    kw_.attr("pop")(name);
    if (v.is_none()) return;  // the default
    try {
      if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        if (py::isinstance<py::str>(v)) throw py::cast_error();  // a string is no list of classes
      } else if constexpr (std::is_same_v<T, bool>) {
        if (!py::isinstance<py::bool_>(v)) throw py::cast_error();
      } else if constexpr (std::is_integral_v<T>) {
        if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v)) throw py::cast_error();
        if constexpr (std::is_unsigned_v<T>)
          if (v.cast<long long>() < 0) throw OptionsError(name, "must not be negative");
      }
      *field = v.cast<T>();
    } catch (const py::cast_error&) {
      throw OptionsError(name, std::string("must be ") + type_name<T>() + ", not " +
                                   std::string(py::str(v.get_type().attr("__name__"))));
    }
  }
  void roi(RoiMode* mode) {
    std::string s;
    take("roi", &s);
    if (!s.empty()) *mode = parse_roi_mode(s);
  }
  void done() const {  // anything left is not an option
    for (const auto& [k, v] : kw_)
      throw OptionsError(std::string(py::str(k)), std::string("is not an option of ") + what_);
  }

 private:
  template <class T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, std::vector<std::string>>) return "a list of strings";
    else if constexpr (std::is_same_v<T, bool>) return "True or False";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else return "a string";
  }
  const char* what_;
  py::kwargs kw_;
};

// The labels asked for: a patient label's name, or annotation classes (LabelCoder).
struct LabelSettings {
  std::string label;
  std::vector<std::string> roi_classes;
  LabelCoder coder(const Dataset& d) const { return LabelCoder(d, label, roi_classes); }
};

// What both runs take (RunSettings), and the labels.
void take_common(Kwargs& k, RunSettings* s, LabelSettings* labels) {
  k.take("level", &s->level), k.take("collectors", &s->collectors), k.take("mpp", &s->mpp);
  k.take("upsample", &s->upsample), k.roi(&s->roi), k.take("min_roi_fraction", &s->min_roi_fraction);
  k.take("min_tissue", &s->min_tissue), k.take("batch", &s->batch);
  k.take("label", &labels->label), k.take("roi_classes", &labels->roi_classes);
  k.take("rank", &s->rank), k.take("world_size", &s->world_size);
}

// The run's tree over `source`, its labels numbered over this rank's share.
std::unique_ptr<ChunkIterator> start(const std::string& source, const std::function<std::unique_ptr<LightDLCore>(Dataset)>& make,
                                     Limits limits, bool crc, const LabelSettings& labels, InfoContext::Columns columns) {
  std::unique_ptr<LightDLCore> dl;
  {
    py::gil_scoped_release nogil;  // reading the source opens every slide's header
    dl = make(dataset_from_source(source));
  }
  LabelCoder coder = labels.coder(dl->dataset());
  return std::make_unique<ChunkIterator>(std::move(dl), limits, crc, std::move(coder), columns);
}

std::unique_ptr<ChunkIterator> stream(const std::string& source, py::kwargs kw) {
  StreamSettings s;
  Limits limits;
  bool crc = false;
  Kwargs k("stream", std::move(kw));
  LabelSettings labels;
  take_common(k, &s, &labels);
  k.take("patch", &s.patch), k.take("bigchunk", &s.bigchunk), k.take("resample", &s.resample);
  k.take("interval_resched", &s.interval_resched), k.take("max_per_bigchunk", &s.max_per_bigchunk);
  k.take("seed", &s.seed);
  k.take("count", &limits.count), k.take("seconds", &limits.seconds), k.take("crc32", &crc);
  k.done();
  if (limits.seconds < 0) throw OptionsError("seconds", "must not be negative");
  s.check();
  return start(source, [&s](Dataset d) { return s.make(std::move(d)); }, limits, crc, labels,
               InfoContext::Columns::kStream);
}

std::unique_ptr<ChunkIterator> sliding_window(const std::string& source, py::kwargs kw) {
  WindowSettings s;
  bool crc = false;
  Kwargs k("sliding_window", std::move(kw));
  LabelSettings labels;
  take_common(k, &s, &labels);
  k.take("kernel", &s.kernel), k.take("stride", &s.stride), k.take("crc32", &crc);
  k.done();
  s.check();
  return start(source, [&s](Dataset d) { return s.make(std::move(d)); }, Limits{}, crc, labels,
               InfoContext::Columns::kWindow);
}

}  // namespace

void add_streams(py::module_& m) {
  add_infos(m);
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
        "Random patches from a manifest, a folder of slides or one slide: (uint8 [H, W, 3], info) pairs");
  m.def("sliding_window", &sliding_window, py::arg("source"),
        "Every window of every slide once: (uint8 [K, K, 3], info) pairs");
}

}  // namespace pydmed::python
