// pydmed_torch._pydmed: the C++ tree's Python face. C++ errors arrive as Python exceptions with
// the same one-line message: SlideError (an OSError), DatasetError and OptionsError (ValueErrors),
// Error for the rest.
#include <pybind11/pybind11.h>

#include "bindings.hpp"
#include "pydmed/error.hpp"

namespace py = pybind11;

namespace pydmed::python {

void check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

std::string path_arg(const py::object& path) {
  return py::module_::import("os").attr("fsdecode")(path).cast<std::string>();
}

}  // namespace pydmed::python

namespace {
// An exception class of the module, deriving from `bases` (so SlideError is both pydmed's Error
// and an OSError: `except pt.Error` and `except OSError` both catch it).
py::object new_exception(py::module_& m, const char* name, py::tuple bases) {
  const std::string qualified = std::string("pydmed_torch._pydmed.") + name;
  py::object type = py::reinterpret_steal<py::object>(PyErr_NewException(qualified.c_str(), bases.ptr(), nullptr));
  if (!type) throw py::error_already_set();
  m.attr(name) = type;
  return type;
}
}  // namespace

PYBIND11_MODULE(_pydmed, m) {
  m.doc() = "pydmed_torch's C++ core: slides, streams of patches and sliding windows";
  static const py::object error = new_exception(m, "Error", py::make_tuple(py::handle(PyExc_RuntimeError)));
  static const py::object slide_error = new_exception(m, "SlideError", py::make_tuple(error, py::handle(PyExc_OSError)));
  static const py::object dataset_error =
      new_exception(m, "DatasetError", py::make_tuple(error, py::handle(PyExc_ValueError)));
  static const py::object options_error =
      new_exception(m, "OptionsError", py::make_tuple(error, py::handle(PyExc_ValueError)));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const pydmed::SlideError& e) {
      PyErr_SetString(slide_error.ptr(), e.what());
    } catch (const pydmed::DatasetError& e) {
      PyErr_SetString(dataset_error.ptr(), e.what());
    } catch (const pydmed::OptionsError& e) {
      PyErr_SetString(options_error.ptr(), e.what());
    } catch (const pydmed::Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });
  pydmed::python::add_slide(m);
  pydmed::python::add_dataset(m);
  pydmed::python::add_streams(m);
}
