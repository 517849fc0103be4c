#pragma once
// The benchmark's pydmed_torch loader for a workload, on a device (shared by the CPU system
// and the GPU figures).
#include "bench_common.hpp"
#include "pydmed/torch/light_dl.hpp"

namespace bench {
pydmed::LightDL make_pydmed_dl(const Workload& w, torch::Device device, pydmed::Collate collate = {});
}
