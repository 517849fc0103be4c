#include "settings.hpp"

namespace py = pybind11;

namespace pydmed::python {

namespace {

void take_common(Kwargs& k, RunSettings* s) {
  k.take("level", &s->level), k.take("collectors", &s->collectors), k.take("mpp", &s->mpp);
  k.take("upsample", &s->upsample), k.roi(&s->roi), k.take("min_roi_fraction", &s->min_roi_fraction);
  k.take("min_tissue", &s->min_tissue), k.take("batch", &s->batch);
  k.take("rank", &s->rank), k.take("world_size", &s->world_size);
}

// A settings class: made from keyword arguments (checked), its fields readable and writable.
template <class S>
py::class_<S> settings_class(py::module_& m, const char* name, const char* doc, void (*take)(Kwargs&, S*)) {
  py::class_<S> c(m, name, doc);
  c.def(py::init([name, take](py::kwargs kw) {
         S s;
         Kwargs k(name, std::move(kw));
         take(k, &s);
         k.done();
         s.check();
         return s;
       }))
      .def("check", &S::check, "OptionsError naming the first setting out of range")
      .def_readwrite("level", &S::level)
      .def_readwrite("collectors", &S::collectors)
      .def_readwrite("mpp", &S::mpp)
      .def_readwrite("upsample", &S::upsample)
      .def_property(
          "roi", [](const S& s) { return to_string(s.roi); },
          [](S& s, const std::string& v) { s.roi = parse_roi_mode(v); })
      .def_readwrite("min_roi_fraction", &S::min_roi_fraction)
      .def_readwrite("min_tissue", &S::min_tissue)
      .def_readwrite("batch", &S::batch)
      .def_readwrite("rank", &S::rank)
      .def_readwrite("world_size", &S::world_size);
  return c;
}

}  // namespace

void take_stream(Kwargs& k, StreamSettings* s) {
  take_common(k, s);
  k.take("patch", &s->patch), k.take("bigchunk", &s->bigchunk), k.take("resample", &s->resample);
  k.take("interval_resched", &s->interval_resched), k.take("max_per_bigchunk", &s->max_per_bigchunk);
  k.take("seed", &s->seed);
}

void take_window(Kwargs& k, WindowSettings* s) {
  take_common(k, s);
  k.take("kernel", &s->kernel), k.take("stride", &s->stride);
}

void add_settings(py::module_& m) {
  settings_class<StreamSettings>(m, "StreamSettings", "stream()'s settings: the random loader and collector", take_stream)
      .def_readwrite("patch", &StreamSettings::patch)
      .def_readwrite("bigchunk", &StreamSettings::bigchunk)
      .def_readwrite("resample", &StreamSettings::resample)
      .def_readwrite("interval_resched", &StreamSettings::interval_resched)
      .def_readwrite("max_per_bigchunk", &StreamSettings::max_per_bigchunk)
      .def_readwrite("seed", &StreamSettings::seed);
  settings_class<WindowSettings>(m, "WindowSettings", "sliding_window()'s settings", take_window)
      .def_readwrite("kernel", &WindowSettings::kernel)
      .def_readwrite("stride", &WindowSettings::stride);
}

}  // namespace pydmed::python
