#pragma once
// PyDmed's SlidingWindowDL and LabelBalancedDL, as LibTorch datasets (LightDLs).
#include "pydmed/extensions/label_balanced.hpp"
#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/torch/light_dl.hpp"

namespace pydmed {

// Whole-slide inference: every window of every patient once, then the loop ends (use
// dl.sampler() with make_data_loader). Each record's info_json is a WindowInfo.
inline LightDL SlidingWindowDL(Dataset dataset, const SlidingWindowOptions& sw, Options options = {},
                               TorchOptions torch_options = {}) {
  return LightDL(std::move(dataset), sliding_window_loader(sw), sliding_window_collector(sw),
                 sliding_window_options(sw, std::move(options)), std::move(torch_options), sliding_window_scheduler());
}

// Random patches, with the loaded patients' labels kept even.
inline LightDL LabelBalancedDL(Dataset dataset, LoaderFactory make_loader, CollectorFactory make_collector,
                               LabelFn label, Options options = {}, TorchOptions torch_options = {}) {
  return LightDL(std::move(dataset), std::move(make_loader), std::move(make_collector), std::move(options),
                 std::move(torch_options), label_balanced_scheduler(std::move(label)));
}

}  // namespace pydmed
