#pragma once
// Private: calling the user's model on a batch, its failures as one line naming it.
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "pydmed/torch/feature_extractor.hpp"

namespace pydmed::detail {

// The model on `x`, its output on the host as float [B, dim] (dim 0: any D). Error naming the
// model when it throws (a CUDA failure included, which shows at the copy) or returns another shape.
torch::Tensor call_model(const FeatureExtractor::Model& model, const torch::Tensor& x, const std::string& name,
                         std::int64_t dim);

// The model's feature dimension, from one window of zeros (kernel x kernel on `device`): Error
// when it returns none or more than `max_dim`.
std::int64_t probe_model(const FeatureExtractor::Model& model, int kernel, const torch::Device& device,
                         const std::string& name, std::int64_t max_dim);

}  // namespace pydmed::detail
