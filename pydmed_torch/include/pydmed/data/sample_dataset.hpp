#pragma once
// A folder of generated sample slides plus its manifest: what the demo, the benchmarks and a
// fresh clone use, so nothing outside the project is needed.
#include <cstdint>
#include <functional>
#include <string>

#include "pydmed/data/dataset.hpp"
#include "pydmed/slide/sample_slide.hpp"

namespace pydmed {

// Writes `count` slides `slide_000.tiff`, ... of `size` x `size` pixels into `dir` (created if
// needed) and `dir/manifest.csv`, with record "wsi" and label "class" (0 or 1, half each, in a
// seeded order). With `source`, a real slide, the pixels are mosaics of its tissue instead
// (SampleSlideOptions::source; the labels then mean nothing). Returns the dataset.
Dataset make_sample_dataset(const std::string& dir, int count, std::int64_t size, std::uint64_t seed,
                            const std::string& source = "");
// The same with every slide's options but label and seed given (size, mpp, level_step, source):
// `base.seed()` seeds the labels and each slide's own seed. `on_slide`, when given, is called
// with each slide's path once it is in place (for a progress display).
Dataset make_sample_dataset(const std::string& dir, int count, const SampleSlideOptions& base,
                            const std::function<void(const std::string& slide)>& on_slide = nullptr);

}  // namespace pydmed
