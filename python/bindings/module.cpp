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

}  // namespace pydmed::python

PYBIND11_MODULE(_pydmed, m) {
  m.doc() = "pydmed_torch's C++ core: slides, streams of patches and sliding windows";
  static py::exception<pydmed::Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<pydmed::SlideError> slide_error(m, "SlideError", PyExc_OSError);
  static py::exception<pydmed::DatasetError> dataset_error(m, "DatasetError", PyExc_ValueError);
  static py::exception<pydmed::OptionsError> options_error(m, "OptionsError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const pydmed::SlideError& e) {
      slide_error(e.what());
    } catch (const pydmed::DatasetError& e) {
      dataset_error(e.what());
    } catch (const pydmed::OptionsError& e) {
      options_error(e.what());
    } catch (const pydmed::Error& e) {
      error(e.what());
    }
  });
  pydmed::python::add_slide(m);
  pydmed::python::add_streams(m);
}
