// Slide: openslide-python's OpenSlide, over the project's reader registry (the exact tile
// reader, OpenSlide, libtiff, OpenCV). Regions come back as NumPy uint8 [h, w, 3] RGB arrays
// with transparent pixels white (OpenSlide gives RGBA with them transparent: its RGB composited
// on white is this).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <opencv2/imgproc.hpp>

#include "bindings.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "pydmed/slide/slide.hpp"

namespace py = pybind11;

namespace pydmed::python {

namespace {

// An RGB cv::Mat as a NumPy array that owns a copy of its pixels.
py::array_t<std::uint8_t> to_numpy(const cv::Mat& rgb) {
  const cv::Mat m = rgb.isContinuous() ? rgb : rgb.clone();
  py::array_t<std::uint8_t> a({m.rows, m.cols, m.channels()});
  std::memcpy(a.mutable_data(), m.data, m.total() * m.elemSize());
  return a;
}

// A Slide that can be closed (as a context manager ends it), after which it refuses reads.
// Reads hold their own reference (taken with the GIL), so a close() from another thread during
// a read frees the slide only after it.
class PySlide {
 public:
  explicit PySlide(const std::string& path) : slide_(std::make_shared<const Slide>(path)) {}
  std::shared_ptr<const Slide> held() const {
    if (!slide_) throw Error("the slide is closed");
    return slide_;
  }
  const Slide& s() const { return *held(); }
  void close() { slide_.reset(); }

  py::tuple dimensions() const { return py::make_tuple(s().levels()[0].width, s().levels()[0].height); }
  py::tuple level_dimensions() const {
    py::list out;
    for (const LevelInfo& l : s().levels()) out.append(py::make_tuple(l.width, l.height));
    return py::tuple(out);
  }
  py::tuple level_downsamples() const {
    py::list out;
    for (const LevelInfo& l : s().levels()) out.append(l.downsample);
    return py::tuple(out);
  }
  py::object mpp() const {
    if (!s().mpp_x() || !s().mpp_y()) return py::none();
    return py::make_tuple(*s().mpp_x(), *s().mpp_y());
  }
  py::dict associated_images() const {
    py::dict out;
    for (const std::string& name : s().associated_image_names()) out[py::str(name)] = to_numpy(s().read_associated_image(name));
    return out;
  }
  py::array_t<std::uint8_t> read_region(std::pair<std::int64_t, std::int64_t> location, int level,
                                        std::pair<std::int64_t, std::int64_t> size) const {
    cv::Mat m;
    const auto slide = held();
    {
      py::gil_scoped_release nogil;  // decoding: other Python threads go on
      m = slide->read_region(location.first, location.second, level, size.first, size.second);
    }
    return to_numpy(m);
  }
  py::array_t<std::uint8_t> read_region_at_mpp(std::pair<std::int64_t, std::int64_t> location, double mpp,
                                               std::pair<int, int> size, bool upsample) const {
    cv::Mat m;
    const auto slide = held();
    {
      py::gil_scoped_release nogil;
      m = slide->read_region_at_mpp(location.first, location.second, mpp, size.first, size.second, upsample);
    }
    return to_numpy(m);
  }
  py::array_t<std::uint8_t> get_thumbnail(std::pair<int, int> size) const {
    cv::Mat m;
    const auto slide = held();
    {
      py::gil_scoped_release nogil;
      m = slide->thumbnail(std::max(size.first, size.second));
    }
    // openslide-python fits the thumbnail in `size`; thumbnail() fits a square of its larger side.
    const double k = std::min(double(size.first) / m.cols, double(size.second) / m.rows);
    if (k < 1) cv::resize(m, m, cv::Size(std::max(1, int(m.cols * k)), std::max(1, int(m.rows * k))), 0, 0, cv::INTER_AREA);
    return to_numpy(m);
  }

 private:
  std::shared_ptr<const Slide> slide_;
};

}  // namespace

void add_slide(py::module_& m) {
  py::class_<PySlide>(m, "Slide", "A whole-slide image (or a plain picture), as openslide.OpenSlide reads one")
      .def(py::init([](const py::object& path) { return std::make_unique<PySlide>(path_arg(path)); }), py::arg("path"))
      .def_property_readonly("path", [](const PySlide& p) { return p.s().path(); })
      .def_property_readonly("vendor", [](const PySlide& p) { return p.s().vendor(); })
      .def_property_readonly("reader", [](const PySlide& p) { return p.s().reader(); })
      .def_property_readonly("level_count", [](const PySlide& p) { return p.s().level_count(); })
      .def_property_readonly("dimensions", &PySlide::dimensions)
      .def_property_readonly("level_dimensions", &PySlide::level_dimensions)
      .def_property_readonly("level_downsamples", &PySlide::level_downsamples)
      .def_property_readonly("properties", [](const PySlide& p) { return p.s().properties(); })
      .def_property_readonly("mpp", &PySlide::mpp, "(mpp_x, mpp_y) in microns a pixel, or None")
      .def_property_readonly("associated_images", &PySlide::associated_images)
      .def("get_best_level_for_downsample",
           [](const PySlide& p, double downsample) { return p.s().best_level_for_downsample(downsample); },
           py::arg("downsample"))
      .def("read_region", &PySlide::read_region, py::arg("location"), py::arg("level"), py::arg("size"),
           "uint8 [h, w, 3] RGB of `size` pixels of `level`, top-left at level-0 `location`")
      .def("read_region_at_mpp", &PySlide::read_region_at_mpp, py::arg("location"), py::arg("mpp"), py::arg("size"),
           py::arg("upsample") = false, "uint8 [h, w, 3]: `size` pixels at `mpp` microns a pixel")
      .def("get_thumbnail", &PySlide::get_thumbnail, py::arg("size"))
      .def("close", &PySlide::close)
      .def("__enter__", [](PySlide& p) -> PySlide& { return p; }, py::return_value_policy::reference)
      .def("__exit__", [](PySlide& p, py::args) { p.close(); })
      .def("__repr__", [](const PySlide& p) { return "Slide('" + redact_url(p.s().path()) + "')"; });

  // Slides by URL: the process's caches and retries (collectors started later inherit them).
  m.def(
      "set_remote_options",
      [](const py::object& cache, const py::object& cache_size, const py::object& memory, int tries,
         double stall_seconds, int connections) {
        RemoteOptions o = remote_options();
        if (!cache.is_none()) o.cache_dir(path_arg(cache));
        auto bytes = [](const char* name, const py::object& v) {
          return py::isinstance<py::int_>(v) ? v.cast<std::uint64_t>() : parse_byte_size(name, py::str(v));
        };
        if (!cache_size.is_none()) o.cache_bytes(bytes("cache_size", cache_size));
        if (!memory.is_none()) o.memory_bytes(bytes("memory", memory));
        if (tries > 0) o.tries(tries);
        if (stall_seconds > 0) o.stall_seconds(stall_seconds);
        if (connections > 0) o.connections(connections);
        set_remote_options(o);
      },
      py::arg("cache") = py::none(), py::arg("cache_size") = py::none(), py::arg("memory") = py::none(),
      py::arg("tries") = 0, py::arg("stall_seconds") = 0.0, py::arg("connections") = 0,
      "Caches and retries of slides read by URL (http, https, s3): cache folder, its size and each process's "
      "memory (bytes, or '20G'), tries of a failed request, seconds without data before a request times out, "
      "requests in flight per process. Unset arguments keep their value.");
}

}  // namespace pydmed::python
