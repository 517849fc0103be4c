#pragma once
// The loader's process tree behind a Python iterator: (image, info) one at a time, or whole
// batches (images, Infos). The GIL is released while a batch is awaited and signals are checked
// every 0.2 s, so Ctrl-C raises KeyboardInterrupt in the consumer; closing the iterator (or its
// end, or its collection) stops and reaps the tree.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <memory>

#include "infos.hpp"
#include "pydmed/engine/label_coder.hpp"
#include "pydmed/engine/light_dl_core.hpp"

namespace pydmed::python {

// When a run ends: a number of items, a number of seconds, or (neither) the loader's own end.
struct Limits {
  std::uint64_t count = 0;
  double seconds = 0;
};

class ChunkIterator {
 public:
  ChunkIterator(std::unique_ptr<LightDLCore> dl, Limits limits, bool crc, LabelCoder labels,
                InfoContext::Columns columns);

  pybind11::tuple next();
  // Up to `n` SmallChunks at once: (uint8 [k, H, W, 3], Infos) with k >= 1, or None at the end.
  // Into `out` (a writable C-contiguous uint8 [N >= n, H, W, 3], a pinned tensor's .numpy()
  // say), the images its first k rows; else a new array each time.
  pybind11::object next_batch(std::size_t n, pybind11::object out);
  void close();
  LightDLCore& loader() { return *dl_; }
  const LabelCoder& labels() const { return labels_; }

 private:
  void check_idle() const;  // one caller at a time, as a generator: another thread's call is refused
  pybind11::array_t<std::uint8_t> batch_array(std::size_t n, const pybind11::object& out) const;
  std::size_t fetch(std::uint8_t* out, std::size_t want, std::vector<ChunkRecord>* rec);
  void end();

  std::unique_ptr<LightDLCore> dl_;
  Limits limits_;
  bool crc_;
  LabelCoder labels_;
  std::shared_ptr<InfoContext> ctx_;
  std::size_t bytes_;
  std::vector<std::uint8_t> buf_;  // next()'s batch
  std::vector<ChunkRecord> rec_;
  std::size_t i_ = 0, n_ = 0;
  std::uint64_t taken_ = 0;
  bool closed_ = false, busy_ = false;  // the GIL guards both
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace pydmed::python
