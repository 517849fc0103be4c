// pydmed_torch.stream() and sliding_window(): the loader's process tree behind a Python
// iterator of (image, info). Options are the command-line flags' names with underscores,
// checked by the core (StreamSettings, WindowSettings: the same one-line messages). The GIL is
// released while a batch is awaited, and signals are checked every 0.2 s, so Ctrl-C raises
// KeyboardInterrupt in the consumer; closing the iterator (or its end, or its collection) stops
// and reaps the tree.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <zlib.h>

#include <chrono>
#include <functional>
#include <map>

#include "bindings.hpp"
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
      if constexpr (std::is_same_v<T, bool>) {
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
    if constexpr (std::is_same_v<T, bool>) return "True or False";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else return "a string";
  }
  const char* what_;
  py::kwargs kw_;
};

// When a run ends: a number of items, a number of seconds, or (neither) the loader's own end.
struct Limits {
  std::uint64_t count = 0;
  double seconds = 0;
};

using InfoFn = std::function<py::dict(const ChunkRecord&)>;

class ChunkIterator {
 public:
  ChunkIterator(std::unique_ptr<LightDLCore> dl, Limits limits, bool crc, std::string label, InfoFn info)
      : dl_(std::move(dl)), limits_(limits), crc_(crc), label_(std::move(label)), info_(std::move(info)),
        bytes_(dl_->options().patch_shape().bytes()),
        batch_(std::size_t(dl_->options().batch_size())),
        buf_(batch_ * bytes_),
        t0_(std::chrono::steady_clock::now()) {}

  py::tuple next() {
    if (i_ == n_) {
      i_ = 0;
      n_ = fetch(buf_.data(), batch_, &rec_);
    }
    if (i_ == n_) {
      end();
      throw py::stop_iteration();
    }
    const PatchShape& shape = dl_->options().patch_shape();
    py::array_t<std::uint8_t> image({shape.height, shape.width, shape.channels});
    std::memcpy(image.mutable_data(), buf_.data() + i_ * bytes_, bytes_);
    py::dict info = describe(rec_[i_], buf_.data() + i_ * bytes_);
    ++i_;
    return py::make_tuple(image, info);
  }

  // Up to `n` SmallChunks at once: (uint8 [k, H, W, 3], [info, ...]) with k >= 1, or None at the
  // end. The array is new each time (a tensor made from it keeps it; nothing is overwritten).
  py::object next_batch(std::size_t n) {
    if (n == 0) throw OptionsError("batch_size", "must be positive");
    const PatchShape& shape = dl_->options().patch_shape();
    py::array_t<std::uint8_t> images({py::ssize_t(n), py::ssize_t(shape.height), py::ssize_t(shape.width),
                                      py::ssize_t(shape.channels)});
    std::uint8_t* out = images.mutable_data();
    py::list infos;
    std::size_t k = 0;
    for (; k < n && i_ < n_; ++k, ++i_) {  // what next() left of its batch first
      std::memcpy(out + k * bytes_, buf_.data() + i_ * bytes_, bytes_);
      infos.append(describe(rec_[i_], out + k * bytes_));
    }
    while (k < n) {  // then from the loader: whole batches, a short one only at the end
      std::vector<ChunkRecord> rec;
      const std::size_t got = fetch(out + k * bytes_, n - k, &rec);
      if (got == 0) break;
      for (std::size_t j = 0; j < got; ++j) infos.append(describe(rec[j], out + (k + j) * bytes_));
      k += got;
    }
    if (k == 0) {
      end();
      return py::none();
    }
    if (k < n) images = py::array_t<std::uint8_t>(images[py::slice(0, py::ssize_t(k), 1)]);
    return py::make_tuple(images, infos);
  }

  void close() {
    closed_ = true;
    i_ = n_ = 0;
    py::gil_scoped_release nogil;  // the tree is reaped within a second
    dl_->stop();
  }
  LightDLCore& loader() { return *dl_; }

 private:
  py::dict describe(const ChunkRecord& r, const std::uint8_t* pixels) {
    py::dict info = info_(r);
    const Patient& p = dl_->dataset().patient(r.patient);
    info["path"] = p.slide_path();
    if (!label_.empty()) info["label"] = label_of(p);
    if (crc_) info["crc32"] = crc32(crc32(0L, Z_NULL, 0), pixels, uInt(bytes_));
    ++taken_;
    return info;
  }

  // The patient's label as a Python value, converted once a patient.
  py::object label_of(const Patient& p) {
    auto it = labels_.find(p.int_uniqueid);
    if (it != labels_.end()) return it->second;
    if (!p.labels.contains(label_))
      throw DatasetError("patient " + std::to_string(p.int_uniqueid) + " has no label '" + label_ + "'");
    py::object v = py::module_::import("json").attr("loads")(p.labels[label_].dump());
    return labels_.emplace(p.int_uniqueid, v).first->second;
  }

  // The run is over: the tree stopped. A run that delivered nothing because every slide failed
  // says why (the command line exits 1 then), rather than ending as if the source were empty.
  void end() {
    const bool nothing = taken_ == 0 && !closed_;
    close();
    if (!nothing) return;
    const std::vector<PatientError> errors = dl_->errors();
    if (!errors.empty())
      throw DatasetError("nothing delivered: patient " + std::to_string(errors[0].patient) + ": " + errors[0].message +
                         (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) + " more errors)" : ""));
  }

  // Up to `want` SmallChunks into `out`, within the limits; 0: the end. Waits with the GIL
  // released, checking signals every 0.2 s (a KeyboardInterrupt closes the iterator first).
  // One caller at a time: another thread's call while one waits is refused, as a generator's.
  std::size_t fetch(std::uint8_t* out, std::size_t want, std::vector<ChunkRecord>* rec) {
    if (busy_) throw py::value_error("ChunkIterator already executing (in another thread)");
    if (closed_ || (limits_.count > 0 && taken_ >= limits_.count)) return 0;
    busy_ = true;
    struct Idle {
      bool& busy;
      ~Idle() { busy = false; }
    } idle{busy_};
    if (limits_.count > 0) want = std::min<std::uint64_t>(want, limits_.count - taken_);
    for (;;) {
      double wait = 0.2;
      if (limits_.seconds > 0) {
        const double left =
            limits_.seconds - std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
        if (left <= 0) return 0;
        wait = std::min(wait, left);
      }
      std::size_t n = 0;
      {
        py::gil_scoped_release nogil;
        n = dl_->next_batch_for(out, want, rec, wait);
      }
      if (n > 0 || dl_->finished()) return n;
      try {
        check_signals();
      } catch (...) {
        busy_ = false;
        close();
        throw;
      }
    }
  }

  std::unique_ptr<LightDLCore> dl_;
  Limits limits_;
  bool crc_;
  std::string label_;  // a patient label put in each info ("" : none)
  std::map<std::int64_t, py::object> labels_;  // label_of's, per patient
  InfoFn info_;
  std::size_t bytes_, batch_;
  std::vector<std::uint8_t> buf_;
  std::vector<ChunkRecord> rec_;
  std::size_t i_ = 0, n_ = 0;
  std::uint64_t taken_ = 0;
  bool closed_ = false, busy_ = false;  // the GIL guards both
  std::chrono::steady_clock::time_point t0_;
};

py::object mpp_or_none(double mpp) { return mpp > 0 ? py::object(py::float_(mpp)) : py::none(); }

// pydmed stream's TSV columns.
py::dict stream_info(const ChunkRecord& r) {
  py::dict d;
  d["patient"] = r.patient, d["visit"] = r.visit;
  d["bigchunk_x"] = r.bigchunk.x, d["bigchunk_y"] = r.bigchunk.y;
  d["x"] = r.x, d["y"] = r.y, d["level"] = r.level, d["width"] = r.width, d["height"] = r.height;
  d["mpp"] = mpp_or_none(r.mpp);
  d["roi"] = r.roi();
  d["resample"] = r.cut.resample == PatchCut::Resample::kPatch ? "patch" : "bigchunk";
  d["bigchunk_width"] = r.cut.read_width, d["bigchunk_height"] = r.cut.read_height;
  d["bigchunk_target_width"] = r.bigchunk.width, d["bigchunk_target_height"] = r.bigchunk.height;
  d["x_in_bigchunk"] = r.cut.x, d["y_in_bigchunk"] = r.cut.y;
  return d;
}

// pydmed sliding-window's TSV columns, with the window's row and column.
py::dict window_info(const ChunkRecord& r) {
  const WindowInfo w = WindowInfo::from_json(r.info_json);
  py::dict d;
  d["patient"] = r.patient, d["x"] = r.x, d["y"] = r.y, d["level"] = r.level;
  d["width"] = r.width, d["height"] = r.height;
  d["last_row"] = int(w.last_row), d["last_col"] = int(w.last_col);  // 0 or 1, as in the TSV
  d["overlap_y"] = w.overlap_y, d["overlap_x"] = w.overlap_x;
  d["mpp"] = mpp_or_none(r.mpp);
  d["roi"] = r.roi();
  d["row"] = w.row, d["col"] = w.col;
  return d;
}

// What both runs take (RunSettings), and the patient label asked for in the infos.
void take_common(Kwargs& k, RunSettings* s, std::string* label) {
  k.take("level", &s->level), k.take("collectors", &s->collectors), k.take("mpp", &s->mpp);
  k.take("upsample", &s->upsample), k.roi(&s->roi), k.take("min_roi_fraction", &s->min_roi_fraction);
  k.take("min_tissue", &s->min_tissue), k.take("batch", &s->batch);
  k.take("label", label), k.take("rank", &s->rank), k.take("world_size", &s->world_size);
}

std::unique_ptr<ChunkIterator> stream(const std::string& source, py::kwargs kw) {
  StreamSettings s;
  Limits limits;
  bool crc = false;
  Kwargs k("stream", std::move(kw));
  std::string label;
  take_common(k, &s, &label);
  k.take("patch", &s.patch), k.take("bigchunk", &s.bigchunk), k.take("resample", &s.resample);
  k.take("interval_resched", &s.interval_resched), k.take("max_per_bigchunk", &s.max_per_bigchunk);
  k.take("seed", &s.seed);
  k.take("count", &limits.count), k.take("seconds", &limits.seconds), k.take("crc32", &crc);
  k.done();
  if (limits.seconds < 0) throw OptionsError("seconds", "must not be negative");
  s.check();
  std::unique_ptr<LightDLCore> dl;
  {
    py::gil_scoped_release nogil;  // reading the source opens every slide's header
    dl = s.make(dataset_from_source(source));
  }
  return std::make_unique<ChunkIterator>(std::move(dl), limits, crc, label, stream_info);
}

std::unique_ptr<ChunkIterator> sliding_window(const std::string& source, py::kwargs kw) {
  WindowSettings s;
  bool crc = false;
  Kwargs k("sliding_window", std::move(kw));
  std::string label;
  take_common(k, &s, &label);
  k.take("kernel", &s.kernel), k.take("stride", &s.stride), k.take("crc32", &crc);
  k.done();
  s.check();
  std::unique_ptr<LightDLCore> dl;
  {
    py::gil_scoped_release nogil;
    dl = s.make(dataset_from_source(source));
  }
  return std::make_unique<ChunkIterator>(std::move(dl), Limits{}, crc, label, window_info);
}

}  // namespace

void add_streams(py::module_& m) {
  py::class_<ChunkIterator>(m, "ChunkIterator", "(image, info) pairs from the loader's process tree")
      .def("__iter__", [](ChunkIterator& it) -> ChunkIterator& { return it; }, py::return_value_policy::reference)
      .def("__next__", &ChunkIterator::next)
      .def("next_batch", &ChunkIterator::next_batch, py::arg("batch_size"),
           "(uint8 [k, H, W, 3], [info, ...]) of up to batch_size, or None at the end")
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
