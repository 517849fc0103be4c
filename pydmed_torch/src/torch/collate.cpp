#include "pydmed/torch/collate.hpp"

#include <torch/torch.h>

#include <map>
#include <memory>
#include <mutex>

#include "pydmed/error.hpp"

namespace pydmed {

namespace {

// mean and std as [1, C, 1, 1] float32 tensors on each device asked for, copied there once
// (DataLoader workers call the stage concurrently, hence the lock).
class ChannelStats {
 public:
  ChannelStats(const std::vector<double>& mean, const std::vector<double>& std)
      : mean_(to_tensor(mean)), std_(to_tensor(std)) {}
  std::pair<torch::Tensor, torch::Tensor> on(const torch::Device& d) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = on_device_.find(d.str());
    if (it == on_device_.end()) it = on_device_.emplace(d.str(), std::make_pair(mean_.to(d), std_.to(d))).first;
    return it->second;
  }
  std::int64_t channels() const { return mean_.size(1); }

 private:
  static torch::Tensor to_tensor(const std::vector<double>& v) {
    return torch::tensor(std::vector<float>(v.begin(), v.end()), torch::kFloat32).view({1, -1, 1, 1});
  }
  torch::Tensor mean_, std_;
  std::mutex mu_;
  std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> on_device_;
};

}  // namespace

Collate default_collate(const CollateOptions& o) {
  if (o.mean().size() != o.std().size()) throw OptionsError("collate", "mean and std need the same number of channels");
  if (!o.mean().empty() && !o.to_float()) throw OptionsError("collate", "mean/std normalisation needs to_float(true)");
  if (o.dtype() != torch::kFloat32 && !o.to_float()) throw OptionsError("collate", "dtype needs to_float(true)");
  if (!torch::isFloatingType(o.dtype())) throw OptionsError("collate", "dtype must be a floating type");
  if (o.memory_format() != torch::MemoryFormat::Preserve && o.memory_format() != torch::MemoryFormat::Contiguous &&
      o.memory_format() != torch::MemoryFormat::ChannelsLast)
    throw OptionsError("collate", "memory_format must be Preserve, Contiguous or ChannelsLast");
  for (double s : o.std())
    if (!(s > 0)) throw OptionsError("collate", "std must be positive");
  auto stats = o.mean().empty() ? nullptr : std::make_shared<ChannelStats>(o.mean(), o.std());
  CollateFn device = [o, stats](Batch& b) {
    if (!b.data.defined()) return;
    if (o.to_float()) {
      // The same operations, in the same order, on whichever device the batch is.
      b.data = b.data.to(torch::kFloat32).div_(255.0);
      if (stats) {
        if (stats->channels() != b.data.size(1)) throw Error("collate: mean/std channels do not match the batch");
        const auto [mean, std] = stats->on(b.data.device());
        b.data = b.data.sub_(mean).div_(std);
      }
      if (o.dtype() != torch::kFloat32) b.data = b.data.to(o.dtype());
    }
    if (o.memory_format() != torch::MemoryFormat::Preserve) b.data = b.data.contiguous(o.memory_format());
  };
  return Collate(nullptr, std::move(device));
}

}  // namespace pydmed
