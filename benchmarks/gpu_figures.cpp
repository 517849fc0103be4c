#include "gpu_figures.hpp"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>

#include "pydmed_dl.hpp"
#include "resnet50.hpp"

// Mixed precision (bf16 autocast) where the LibTorch build has the device-generic switch.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define PYDMED_BENCH_AUTOCAST 1
#else
#define PYDMED_BENCH_AUTOCAST 0
#endif

namespace bench {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// GB/s of one 256 MiB host-to-device copy, median of 7.
double h2d_gb_s(bool pinned) {
  const std::int64_t bytes = std::int64_t(256) << 20;
  auto host = torch::empty({bytes}, torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(pinned)).fill_(7);
  auto dev = torch::empty({bytes}, torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
  std::vector<double> rates;
  for (int i = 0; i < 8; ++i) {
    torch::cuda::synchronize();
    const double t0 = now_s();
    dev.copy_(host, /*non_blocking=*/true);
    torch::cuda::synchronize();
    if (i > 0) rates.push_back(double(bytes) / 1e9 / (now_s() - t0));  // the first warms up
  }
  return median(rates);
}

class Step {
 public:
  Step() : model_(2), opt_(model_->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9)) {
    model_->to(torch::kCUDA);
    // Channels-last weights, like the batches (the layout cuDNN is fastest in under bf16).
    torch::NoGradGuard no_grad;
    for (auto& p : model_->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  // Two classes; a dataset's own labels (if any) folded onto them.
  void operator()(const pydmed::Batch& b) { (*this)(b.data, targets(b)); }
  static torch::Tensor targets(const pydmed::Batch& b) {
    return b.labels.defined() ? b.labels.remainder(2)
                              : torch::zeros({b.data.size(0)}, b.data.options().dtype(torch::kInt64));
  }
  void operator()(const torch::Tensor& x, const torch::Tensor& y) {
    opt_.zero_grad();
#if PYDMED_BENCH_AUTOCAST
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::increment_nesting();
#endif
    auto loss = torch::nn::functional::cross_entropy(model_->forward(x), y);
#if PYDMED_BENCH_AUTOCAST
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#endif
    loss.backward();
    opt_.step();
  }
  std::int64_t parameters() const {
    std::int64_t n = 0;
    for (const auto& p : model_->parameters()) n += p.numel();
    return n;
  }

 private:
  ResNet50 model_;
  torch::optim::SGD opt_;
};

}  // namespace

nlohmann::json gpu_figures(const Workload& w, const GpuWorkload& g) {
  if (!torch::cuda::is_available()) return nullptr;
  nlohmann::json out;
  out["h2d_pinned_gb_s"] = h2d_gb_s(true);
  out["h2d_pageable_gb_s"] = h2d_gb_s(false);

  Workload lw = w;
  lw.mpp = 0;  // the native loader, whatever --mpp asked of the CPU figures
  lw.collectors = g.collectors > 0 ? g.collectors : int(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN) - 2));
  // The README's loop: uint8 over the bus, float conversion and normalisation on the device.
  pydmed::LightDL dl = make_pydmed_dl(
      lw, torch::kCUDA,
      pydmed::default_collate(
          pydmed::CollateOptions().to_float(true).mean({0.485, 0.456, 0.406}).std({0.229, 0.224, 0.225})));
  Step step;
  const std::size_t batch = std::size_t(w.batch);
  // Warm-up (cuDNN picks its algorithms, the loader fills its rings); keep one batch on the
  // device as the synthetic feed.
  pydmed::Batch synthetic = dl.get_batch(batch);
  const torch::Tensor sx = synthetic.data.clone(), sy = Step::targets(synthetic);
  for (int i = 0; i < 10; ++i) step(dl.get_batch(batch));
  torch::cuda::synchronize();

  std::vector<double> synth_rate, loader_rate, ratio, wait_share;
  for (int r = 0; r < g.windows; ++r) {
    double t0 = now_s();
    for (int i = 0; i < g.steps; ++i) step(sx, sy);
    torch::cuda::synchronize();
    const double synth = double(g.steps) * double(batch) / (now_s() - t0);

    std::size_t patches = 0;
    double waited = 0;
    t0 = now_s();
    for (int i = 0; i < g.steps; ++i) {
      const double a = now_s();
      pydmed::Batch b = dl.get_batch(batch);
      waited += now_s() - a;
      step(b);
      patches += b.size();
    }
    torch::cuda::synchronize();
    const double elapsed = now_s() - t0;
    synth_rate.push_back(synth);
    loader_rate.push_back(double(patches) / elapsed);
    ratio.push_back(loader_rate.back() / synth);
    wait_share.push_back(waited / elapsed);
  }
  out["model"] = "resnet50";
  out["model_parameters"] = step.parameters();
  out["precision"] = PYDMED_BENCH_AUTOCAST ? "bf16 autocast" : "float32";
  out["batch"] = w.batch;
  out["patch"] = w.patch;
  out["collectors"] = lw.collectors;
  out["windows"] = g.windows;
  out["steps_per_window"] = g.steps;
  out["synthetic_patches_per_s"] = median(synth_rate);
  out["loader_patches_per_s"] = median(loader_rate);
  out["loader_vs_synthetic"] = median(ratio);
  out["consumer_wait_share"] = median(wait_share);
  out["loader_stats"] = {{"consumer_wait_s", dl.stats().consumer_wait_s}, {"produced", dl.stats().produced}};
  return out;
}

}  // namespace bench
