#pragma once
// pydmed_bench's GPU figures: host-to-device bandwidth, and a real model step fed by the loader
// against the same step fed by a batch already on the device. Null without CUDA.
#include <nlohmann/json.hpp>

#include "bench_common.hpp"

namespace bench {

struct GpuWorkload {
  int collectors = 0;  // 0: the machine's cores minus two
  int windows = 5;     // timed windows of each feed, alternated, medians reported
  int steps = 30;      // model steps per window
};

nlohmann::json gpu_figures(const Workload& w, const GpuWorkload& g);

}  // namespace bench
