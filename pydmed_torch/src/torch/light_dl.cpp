#include "pydmed/torch/light_dl.hpp"

#include <torch/torch.h>

#include <future>
#include <mutex>

#include "batch_buffers.hpp"
#include "device_feed.hpp"
#include "pydmed/engine/label_coder.hpp"
#include "pydmed/error.hpp"

namespace pydmed {

// A batch as its assembling thread leaves it: on the device, but maybe not yet usable on the
// training loop's stream until hand_over.
struct LightDL::Assembled {
  Batch batch;
  std::unique_ptr<c10::Event> ready;  // absent on the CPU
};

// What all copies of a LightDL share. The last copy to go stops the tree (and waits for a
// batch still on its way); the prefetch task points here without owning it, so there is no
// reference cycle to keep the children alive.
struct LightDL::Shared {
  ~Shared() {
    if (core) core->stop();
    if (next.valid()) next.wait();
  }
  Shared(const TorchOptions& o, const PatchShape& shape)
      : options(o),
        feed(resolve_device(o.device())),
        buffers({shape.height, shape.width, shape.channels}, feed.pinned()) {}
  std::shared_ptr<LightDLCore> core;
  TorchOptions options;
  DeviceFeed feed;
  mutable BatchBuffers buffers;                             // thread-safe itself
  LabelCoder labels;
  std::mutex prefetch_mu;       // guards next and carry
  std::future<Assembled> next;  // the batch on its way to the device
  Batch carry;                  // SmallChunks prefetched beyond what the last call asked for
};

namespace {

Batch slice(const Batch& b, std::size_t start, std::size_t length) {
  Batch out;
  const auto s = std::int64_t(start), n = std::int64_t(length);
  out.data = b.data.narrow(0, s, n);
  out.patients = b.patients.narrow(0, s, n);
  out.coords = b.coords.narrow(0, s, n);
  if (b.labels.defined()) out.labels = b.labels.narrow(0, s, n);
  out.records.assign(b.records.begin() + std::ptrdiff_t(start), b.records.begin() + std::ptrdiff_t(start + length));
  return out;
}

Batch concat(Batch a, Batch b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  a.data = torch::cat({a.data, b.data});
  a.patients = torch::cat({a.patients, b.patients});
  a.coords = torch::cat({a.coords, b.coords});
  if (a.labels.defined()) a.labels = torch::cat({a.labels, b.labels});
  a.records.insert(a.records.end(), std::make_move_iterator(b.records.begin()),
                   std::make_move_iterator(b.records.end()));
  return a;
}

}  // namespace

FinishSampler::FinishSampler(std::shared_ptr<LightDLCore> core, std::size_t max_examples)
    : core_(std::move(core)), max_(max_examples) {}

void FinishSampler::reset(torch::optional<std::size_t> new_size) {
  if (new_size) max_ = *new_size;
  given_ = 0;
}

torch::optional<torch::data::samplers::BatchSize> FinishSampler::next(std::size_t batch_size) {
  if (given_ >= max_ || core_->finished()) return torch::nullopt;
  const std::size_t n = std::min(batch_size, max_ - given_);
  given_ += n;
  return torch::data::samplers::BatchSize(n);
}

LightDL::LightDL(Dataset dataset, LoaderFactory make_loader, CollectorFactory make_collector, Options options,
                 TorchOptions torch_options, std::shared_ptr<Scheduler> scheduler)
    : shared_(std::make_shared<Shared>(torch_options, options.patch_shape())) {
  shared_->labels = LabelCoder(dataset, shared_->options.label(), shared_->options.roi_classes());
  shared_->core = std::make_shared<LightDLCore>(std::move(dataset), std::move(make_loader), std::move(make_collector),
                                                std::move(options), std::move(scheduler));
}

const std::vector<std::string>& LightDL::label_names() const { return shared_->labels.names(); }
LightDLCore& LightDL::core() const { return *shared_->core; }
const torch::Device& LightDL::device() const { return shared_->feed.device(); }
FinishSampler LightDL::sampler(std::size_t max_examples) const { return FinishSampler(shared_->core, max_examples); }

LightDL::Assembled LightDL::assemble(const Shared& s, std::size_t n) {
  LightDLCore& core = *s.core;
  const bool pinned = s.feed.pinned();
  // Straight from the ring slots into a reused (pinned, for a GPU) buffer.
  torch::Tensor data = s.buffers.acquire(std::int64_t(n), [&s] { s.feed.wait_for_copies(); });
  const torch::Tensor buffer = data;
  Batch b;
  const std::size_t got = core.next_batch(data.data_ptr<std::uint8_t>(), n, &b.records);
  if (got < n) data = data.narrow(0, 0, std::int64_t(got));
  b.data = data.permute({0, 3, 1, 2});  // [B, C, H, W], channels-last in memory: no copy
  const auto ids = torch::TensorOptions().dtype(torch::kInt64).pinned_memory(pinned);
  b.patients = torch::empty({std::int64_t(got)}, ids);
  b.coords = torch::empty({std::int64_t(got), 3}, ids);
  auto p = b.patients.accessor<std::int64_t, 1>();
  auto c = b.coords.accessor<std::int64_t, 2>();
  for (std::size_t i = 0; i < got; ++i) {
    const ChunkRecord& r = b.records[i];
    p[std::int64_t(i)] = r.patient;
    c[std::int64_t(i)][0] = r.x, c[std::int64_t(i)][1] = r.y, c[std::int64_t(i)][2] = r.level;
  }
  // Labels: each patch's annotation class (TorchOptions::roi_classes), or its patient's label.
  if (s.labels.active()) {
    b.labels = torch::empty({std::int64_t(got)}, ids);
    auto l = b.labels.accessor<std::int64_t, 1>();
    for (std::size_t i = 0; i < got; ++i) l[std::int64_t(i)] = s.labels.code(b.records[i]);
  }
  const Collate& collate = s.options.collate();
  if (collate.host) collate.host(b);
  Assembled a;
  if (s.feed.on_host()) {
    if (collate.device) collate.device(b);
  } else {
    a.ready = std::make_unique<c10::Event>(s.feed.transfer(
        b, collate.device, [&](c10::Event copied) { s.buffers.copy_enqueued(buffer, std::move(copied)); }));
  }
  a.batch = std::move(b);
  return a;
}

Batch LightDL::hand_over(const Shared& s, Assembled a) {
  if (a.ready) s.feed.hand_over(a.batch, *a.ready);
  return std::move(a.batch);
}

Batch LightDL::get_batch(std::size_t batch_size) {
  Shared& s = *shared_;
  if (!s.options.prefetch().value_or(!s.feed.on_host())) return hand_over(s, assemble(s, batch_size));
  // Hand out the batch prepared during the last step, and start the next one. Every SmallChunk
  // taken from the core is counted as delivered, so none may be dropped here: what the
  // prefetched batch holds beyond this call's size is carried to the next call, and a short
  // one is topped up.
  // (A batch still being prepared when the loop stops is dropped with the loader, as with any
  // prefetching loader; its SmallChunks were counted as delivered.)
  std::lock_guard<std::mutex> g(s.prefetch_mu);
  // First: if it throws, the carry stays.
  Batch next = s.next.valid() ? hand_over(s, s.next.get()) : Batch();
  Batch b = concat(std::move(s.carry), std::move(next));
  s.carry = Batch();
  if (b.size() > batch_size) {
    s.carry = slice(b, batch_size, b.size() - batch_size);
    b = slice(b, 0, batch_size);
  } else if (b.size() < batch_size) {
    b = concat(std::move(b), hand_over(s, assemble(s, batch_size - b.size())));
  }
  if (!b.empty()) s.next = std::async(std::launch::async, [&s, batch_size] { return assemble(s, batch_size); });
  return b;
}

}  // namespace pydmed
