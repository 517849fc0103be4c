#pragma once
// PyDmed's collate_func, in two stages: what must run on the CPU, and what runs after the
// transfer, on the device (so only uint8 crosses the bus and the CPU does no float work).
#include <torch/types.h>

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "pydmed/arg.hpp"
#include "pydmed/torch/batch.hpp"

namespace pydmed {

// Changes the batch in place (convert, normalise, add targets ...).
using CollateFn = std::function<void(Batch&)>;

struct Collate {
  Collate() = default;
  // A plain function is a host stage, as PyDmed's collate_func was.
  template <class F, std::enable_if_t<std::is_invocable_v<F&, Batch&>, int> = 0>
  Collate(F host_stage) : host(std::move(host_stage)) {}  // NOLINT: implicit on purpose
  Collate(CollateFn host_stage, CollateFn device_stage)
      : host(std::move(host_stage)), device(std::move(device_stage)) {}

  // Runs in the root on the batch as gathered: uint8, in pinned memory when it goes to a GPU.
  // Runs before the transfer, so the buffer is reused afterwards: keep a clone, not the tensor.
  CollateFn host;
  // Runs after the transfer, on the device and on the loader's copy stream (on the CPU, right
  // after the host stage). Allocations made here on a GPU are safe to use on any stream.
  CollateFn device;
};

struct CollateOptions {
  CollateOptions() {}
  PYDMED_ARG(bool, to_float) = false;          // uint8 [0, 255] -> float [0, 1]
  PYDMED_ARG(std::vector<double>, mean) = {};  // per channel, after to_float; empty: none
  PYDMED_ARG(std::vector<double>, std) = {};
  // The float type handed to the model, converted last (values are computed in float32).
  PYDMED_ARG(torch::Dtype, dtype) = torch::kFloat32;
  // Preserve: channels-last in memory, as gathered (what cuDNN prefers under mixed precision);
  // Contiguous: plain NCHW.
  PYDMED_ARG(torch::MemoryFormat, memory_format) = torch::MemoryFormat::Preserve;
};

// Everything in the device stage: uint8 as gathered, or float in [0, 1] with optional mean/std
// normalisation, in the dtype and layout asked for.
Collate default_collate(const CollateOptions& options = {});

}  // namespace pydmed
