#include "pydmed/torch/light_dl.hpp"

#include <torch/torch.h>

#include <future>
#include <mutex>
#include <set>
#include <unordered_map>

#include "pydmed/error.hpp"

namespace pydmed {

// What all copies of a LightDL share. The last copy to go stops the tree (and waits for a
// batch still on its way); the prefetch task points here without owning it, so there is no
// reference cycle to keep the children alive.
struct LightDL::Shared {
  ~Shared() {
    if (core) core->stop();
    if (next.valid()) next.wait();
  }
  std::shared_ptr<LightDLCore> core;
  TorchOptions options;
  std::unordered_map<std::int64_t, std::int64_t> label_of;  // patient id -> label value
  std::vector<std::string> label_names;
  std::mutex prefetch_mu;    // guards next and carry
  std::future<Batch> next;  // the batch on its way to the device
  Batch carry;              // SmallChunks prefetched beyond what the last call asked for
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
  a.records.insert(a.records.end(), std::make_move_iterator(b.records.begin()), std::make_move_iterator(b.records.end()));
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
    : shared_(std::make_shared<Shared>()) {
  shared_->options = std::move(torch_options);
  if (!shared_->options.collate()) shared_->options.collate(default_collate());
  if (shared_->options.label().empty() && !dataset.list_patients.empty()) {
    // The dataset's one label, if it has one.
    const auto& first = dataset.list_patients.front().labels;
    bool one = first.size() == 1;
    for (const Patient& p : dataset.list_patients) one &= p.labels.size() == 1 && p.labels.begin().key() == first.begin().key();
    if (one) shared_->options.label(first.begin().key());
  }
  const std::string& key = shared_->options.label();
  if (!key.empty()) {
    // Integer labels stay as they are; anything else is numbered in sorted order.
    std::set<std::string> names;
    bool all_int = true;
    for (const Patient& p : dataset.list_patients) {
      if (!p.labels.contains(key)) throw DatasetError("patient " + std::to_string(p.int_uniqueid) + " has no label '" + key + "'");
      const auto& v = p.labels[key];
      all_int &= v.is_number_integer();
      names.insert(v.is_string() ? v.get<std::string>() : v.dump());
    }
    shared_->label_names.assign(names.begin(), names.end());
    for (const Patient& p : dataset.list_patients) {
      const auto& v = p.labels[key];
      const std::string name = v.is_string() ? v.get<std::string>() : v.dump();
      shared_->label_of[p.int_uniqueid] =
          all_int ? v.get<std::int64_t>()
                  : std::int64_t(std::find(shared_->label_names.begin(), shared_->label_names.end(), name) - shared_->label_names.begin());
    }
  }
  shared_->core = std::make_shared<LightDLCore>(std::move(dataset), std::move(make_loader), std::move(make_collector),
                                               std::move(options), std::move(scheduler));
}

const std::vector<std::string>& LightDL::label_names() const { return shared_->label_names; }
LightDLCore& LightDL::core() const { return *shared_->core; }
FinishSampler LightDL::sampler(std::size_t max_examples) const { return FinishSampler(shared_->core, max_examples); }

Batch LightDL::assemble(const Shared& s, std::size_t n) {
  LightDLCore& core = *s.core;
  const PatchShape& shape = core.options().patch_shape();
  const torch::Device device = s.options.device();
  // Straight from the ring slots into the batch tensor (pinned when it goes to a GPU).
  auto data = torch::empty({std::int64_t(n), shape.height, shape.width, shape.channels},
                           torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(device.is_cuda()));
  Batch b;
  const std::size_t got = core.next_batch(data.data_ptr<std::uint8_t>(), n, &b.records);
  if (got < n) data = data.narrow(0, 0, std::int64_t(got));
  b.data = data.permute({0, 3, 1, 2});  // [B, C, H, W], channels-last in memory: no copy
  b.patients = torch::empty({std::int64_t(got)}, torch::kInt64);
  b.coords = torch::empty({std::int64_t(got), 3}, torch::kInt64);
  auto p = b.patients.accessor<std::int64_t, 1>();
  auto c = b.coords.accessor<std::int64_t, 2>();
  for (std::size_t i = 0; i < got; ++i) {
    const ChunkRecord& r = b.records[i];
    p[std::int64_t(i)] = r.patient;
    c[std::int64_t(i)][0] = r.x, c[std::int64_t(i)][1] = r.y, c[std::int64_t(i)][2] = r.level;
  }
  if (!s.options.label().empty()) {
    b.labels = torch::empty({std::int64_t(got)}, torch::kInt64);
    auto l = b.labels.accessor<std::int64_t, 1>();
    for (std::size_t i = 0; i < got; ++i) l[std::int64_t(i)] = s.label_of.at(b.records[i].patient);
  }
  s.options.collate()(b);
  if (!device.is_cpu()) {
    b.data = b.data.to(device, /*non_blocking=*/true);
    b.patients = b.patients.to(device, true);
    b.coords = b.coords.to(device, true);
    if (b.labels.defined()) b.labels = b.labels.to(device, true);
  }
  return b;
}

Batch LightDL::get_batch(std::size_t batch_size) {
  Shared& s = *shared_;
  if (!s.options.prefetch().value_or(s.options.device().is_cuda())) return assemble(s, batch_size);
  // Hand out the batch prepared during the last step, and start the next one. Every SmallChunk
  // taken from the core is counted as delivered, so none may be dropped here: what the
  // prefetched batch holds beyond this call's size is carried to the next call, and a short
  // one is topped up.
  // (A batch still being prepared when the loop stops is dropped with the loader, as with any
  // prefetching loader; its SmallChunks were counted as delivered.)
  std::lock_guard<std::mutex> g(s.prefetch_mu);
  Batch next = s.next.valid() ? s.next.get() : Batch();  // first: if it throws, the carry stays
  Batch b = concat(std::move(s.carry), std::move(next));
  s.carry = Batch();
  if (b.size() > batch_size) {
    s.carry = slice(b, batch_size, b.size() - batch_size);
    b = slice(b, 0, batch_size);
  } else if (b.size() < batch_size) {
    b = concat(std::move(b), assemble(s, batch_size - b.size()));
  }
  if (!b.empty()) s.next = std::async(std::launch::async, [&s, batch_size] { return assemble(s, batch_size); });
  return b;
}

}  // namespace pydmed
