#pragma once
// The Python face's parts, each adding its names to the module.
#include <pybind11/pybind11.h>

namespace pydmed::python {

void add_slide(pybind11::module_& m);    // Slide: openslide-python's shape, over every reader
void add_dataset(pybind11::module_& m);  // Record, Patient, Dataset, manifests and splits
void add_streams(pybind11::module_& m);  // stream() and sliding_window(): iterators of (image, info)

// A path argument (str, bytes or os.PathLike) as the file system's string (os.fsdecode).
std::string path_arg(const pybind11::object& path);

// Raises KeyboardInterrupt (or what a signal handler raised) in the caller; takes the GIL.
void check_signals();

}  // namespace pydmed::python
