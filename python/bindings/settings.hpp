#pragma once
// The C++ settings of the ready-made runs (StreamSettings, WindowSettings) as Python classes,
// and the keyword arguments that fill them: one list of names for the classes' constructors
// and for stream() / sliding_window().
#include <pybind11/pybind11.h>

#include "kwargs.hpp"
#include "pydmed/extensions/run_settings.hpp"

namespace pydmed::python {

void take_stream(Kwargs& k, StreamSettings* s);
void take_window(Kwargs& k, WindowSettings* s);
void add_settings(pybind11::module_& m);

}  // namespace pydmed::python
