#include "chunk_iterator.hpp"

#include <zlib.h>

#include <cstring>

#include "bindings.hpp"
#include "pydmed/error.hpp"

namespace py = pybind11;

namespace pydmed::python {

namespace {
std::uint32_t crc_of(const std::uint8_t* pixels, std::size_t bytes) {
  return std::uint32_t(crc32(crc32(0L, Z_NULL, 0), pixels, uInt(bytes)));
}
}  // namespace

ChunkIterator::ChunkIterator(std::unique_ptr<LightDLCore> dl, Limits limits, bool crc, LabelCoder labels,
                             InfoContext::Columns columns)
    : dl_(std::move(dl)),
      limits_(limits),
      crc_(crc),
      labels_(std::move(labels)),
      ctx_(std::make_shared<InfoContext>(dl_->dataset(), columns, labels_.key())),
      bytes_(dl_->options().patch_shape().bytes()),
      buf_(std::size_t(dl_->options().batch_size()) * bytes_),
      t0_(std::chrono::steady_clock::now()) {}

void ChunkIterator::check_idle() const {
  if (busy_) throw py::value_error("ChunkIterator already executing (in another thread)");
}

py::tuple ChunkIterator::next() {
  check_idle();
  if (i_ == n_) {
    i_ = n_ = 0;  // nothing left of the last batch, whatever fetch does
    n_ = fetch(buf_.data(), buf_.size() / bytes_, &rec_);
  }
  if (i_ == n_) {
    end();
    throw py::stop_iteration();
  }
  const PatchShape& shape = dl_->options().patch_shape();
  py::array_t<std::uint8_t> image({shape.height, shape.width, shape.channels});
  const std::uint8_t* pixels = buf_.data() + i_ * bytes_;
  std::memcpy(image.mutable_data(), pixels, bytes_);
  py::dict info = ctx_->describe(rec_[i_], crc_ ? std::optional<std::uint32_t>(crc_of(pixels, bytes_)) : std::nullopt);
  ++i_;
  return py::make_tuple(image, info);
}

py::array_t<std::uint8_t> ChunkIterator::batch_array(std::size_t n, const py::object& out) const {
  const PatchShape& shape = dl_->options().patch_shape();
  if (out.is_none())
    return py::array_t<std::uint8_t>(
        {py::ssize_t(n), py::ssize_t(shape.height), py::ssize_t(shape.width), py::ssize_t(shape.channels)});
  // Checked by hand: a pybind11 cast would copy an unsuitable array, and the pixels go nowhere.
  const auto a = py::reinterpret_borrow<py::array>(out);
  const bool fits = py::isinstance<py::array>(out) && a.dtype().is(py::dtype::of<std::uint8_t>()) && a.ndim() == 4 &&
                    a.writeable() && (a.flags() & py::array::c_style) && std::size_t(a.shape(0)) >= n &&
                    a.shape(1) == shape.height && a.shape(2) == shape.width && a.shape(3) == shape.channels;
  if (!fits)
    throw OptionsError("out", "must be a writable C-contiguous uint8 array of shape [N >= " + std::to_string(n) + ", " +
                                  std::to_string(shape.height) + ", " + std::to_string(shape.width) + ", " +
                                  std::to_string(shape.channels) + "]");
  return py::reinterpret_borrow<py::array_t<std::uint8_t>>(out);
}

py::object ChunkIterator::next_batch(std::size_t n, py::object out) {
  check_idle();
  if (n == 0) throw OptionsError("batch_size", "must be positive");
  py::array_t<std::uint8_t> images = batch_array(n, out);
  std::uint8_t* pixels = images.mutable_data();
  std::vector<ChunkRecord> rec;
  rec.reserve(n);
  for (; rec.size() < n && i_ < n_; ++i_) {  // what next() left of its batch first
    std::memcpy(pixels + rec.size() * bytes_, buf_.data() + i_ * bytes_, bytes_);
    rec.push_back(std::move(rec_[i_]));
  }
  while (rec.size() < n) {  // then from the loader: whole batches, a short one only at the end
    std::vector<ChunkRecord> more;
    const std::size_t got = fetch(pixels + rec.size() * bytes_, n - rec.size(), &more);
    if (got == 0) break;
    std::move(more.begin(), more.end(), std::back_inserter(rec));
  }
  const std::size_t k = rec.size();
  if (k == 0) {
    end();
    return py::none();
  }
  std::vector<std::uint32_t> crc;
  if (crc_)
    for (std::size_t j = 0; j < k; ++j) crc.push_back(crc_of(pixels + j * bytes_, bytes_));
  py::array_t<std::int64_t> codes{py::ssize_t(k)};
  std::int64_t* c = codes.mutable_data();
  for (std::size_t j = 0; j < k; ++j) c[j] = labels_.active() ? labels_.code(rec[j]) : -1;
  if (k < std::size_t(images.shape(0))) images = py::array_t<std::uint8_t>(images[py::slice(0, py::ssize_t(k), 1)]);
  return py::make_tuple(images, Infos(ctx_, std::move(rec), std::move(crc), std::move(codes)));
}

void ChunkIterator::close() {
  closed_ = true;
  i_ = n_ = 0;
  py::gil_scoped_release nogil;  // the tree is reaped within a second
  dl_->stop();
}

// The run is over: the tree stopped. A run that delivered nothing because every slide failed
// says why (the command line exits 1 then), rather than ending as if the source were empty.
void ChunkIterator::end() {
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
std::size_t ChunkIterator::fetch(std::uint8_t* out, std::size_t want, std::vector<ChunkRecord>* rec) {
  check_idle();
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
    taken_ += n;
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

}  // namespace pydmed::python
