#include "pydmed/torch/collate.hpp"

#include <torch/torch.h>

#include "pydmed/error.hpp"

namespace pydmed {

CollateFn default_collate(const CollateOptions& o) {
  if (o.mean().size() != o.std().size()) throw OptionsError("collate", "mean and std need the same number of channels");
  if (!o.mean().empty() && !o.to_float()) throw OptionsError("collate", "mean/std normalisation needs to_float(true)");
  for (double s : o.std())
    if (!(s > 0)) throw OptionsError("collate", "std must be positive");
  return [o](Batch& b) {
    if (!o.to_float() || !b.data.defined()) return;
    b.data = b.data.to(torch::kFloat32).div_(255.0);
    if (!o.mean().empty()) {
      if (std::int64_t(o.mean().size()) != b.data.size(1)) throw Error("collate: mean/std channels do not match the batch");
      const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
      auto mean = torch::tensor(std::vector<float>(o.mean().begin(), o.mean().end()), opts).view({1, -1, 1, 1});
      auto std = torch::tensor(std::vector<float>(o.std().begin(), o.std().end()), opts).view({1, -1, 1, 1});
      b.data = b.data.sub_(mean).div_(std);
    }
  };
}

}  // namespace pydmed
