#pragma once
// PyDmed's collate_func: what happens to a batch after its SmallChunks are gathered.
#include <functional>
#include <vector>

#include "pydmed/arg.hpp"
#include "pydmed/torch/batch.hpp"

namespace pydmed {

// Changes the batch in place (convert, normalise, add targets ...); runs in the root.
using CollateFn = std::function<void(Batch&)>;

struct CollateOptions {
  CollateOptions() {}
  PYDMED_ARG(bool, to_float) = false;        // uint8 [0, 255] -> float32 [0, 1]
  PYDMED_ARG(std::vector<double>, mean) = {};  // per channel, after to_float; empty: none
  PYDMED_ARG(std::vector<double>, std) = {};
};

// uint8 batches as gathered, or float in [0, 1] with optional mean/std normalisation.
CollateFn default_collate(const CollateOptions& options = {});

}  // namespace pydmed
