#include "pydmed/extensions/run_settings.hpp"

#include <algorithm>
#include <cmath>

#include "pydmed/error.hpp"
#include "pydmed/slide/physical.hpp"

namespace pydmed {

namespace {
void check_range(const char* name, std::int64_t v, std::int64_t lo, std::int64_t hi) {
  if (v < lo || v > hi)
    throw OptionsError(name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", not " +
                                 std::to_string(v));
}
void check_mpp(double mpp) {
  if (mpp != 0 && !plausible_mpp(mpp)) throw OptionsError("mpp", "must be 0 (a level) or " + plausible_mpp_text());
}
}  // namespace

void RunSettings::check_common() const {
  check_range("level", level, 0, 1000);
  check_range("collectors", collectors, 1, 1024);
  check_range("batch", batch, 1, 1 << 16);
  check_mpp(mpp);
  check_fraction("min_tissue", min_tissue);
  check_fraction("min_roi_fraction", min_roi_fraction);
}

Options RunSettings::common_options() const {
  return Options()
      .num_bigchunkloaders(collectors)
      .rank(rank)
      .world_size(world_size)
      .batch_size(batch)
      .maxlength_queue_smallchunk(std::max(64, batch));
}

void StreamSettings::check() const {
  check_range("patch", patch, 1, 65536);
  check_range("bigchunk", bigchunk, 1, 65536);
  check_common();
  parse_resample_mode(resample);
  if (!(interval_resched > 0) || !std::isfinite(interval_resched))
    throw OptionsError("interval_resched", "must be a positive number of seconds");
  // At an mpp the BigChunk (level pixels) and the patch (target pixels) compare per slide.
  if (mpp == 0 && patch > bigchunk) {
    throw OptionsError("patch", std::to_string(patch) + " is larger than bigchunk " + std::to_string(bigchunk) +
                                    ": patches are cut from BigChunks");
  }
}

RandomBigChunkOptions StreamSettings::bigchunks() const {
  return RandomBigChunkOptions()
      .level(level)
      .width(bigchunk)
      .height(bigchunk)
      .min_tissue(min_tissue)
      .mpp(mpp)
      .resample(parse_resample_mode(resample))
      .upsample(upsample)
      .roi(roi)
      .min_roi_fraction(min_roi_fraction);
}

Options StreamSettings::options() const {
  const RandomBigChunkOptions b = bigchunks();
  return common_options()
      .interval_resched(interval_resched)
      .seed(seed)
      .patch_shape({patch, patch, 3})
      .max_bigchunk_bytes(b.bigchunk_bytes())
      .loader_scratch_bytes(b.scratch_bytes());
}

std::unique_ptr<LightDLCore> StreamSettings::make(Dataset dataset) const {
  check();
  return std::make_unique<LightDLCore>(
      std::move(dataset), random_bigchunk_loader(bigchunks()),
      random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(max_per_bigchunk).min_tissue(min_tissue)),
      options());
}

void WindowSettings::check() const {
  check_range("kernel", kernel, 1, 65536);
  check_range("stride", stride, 1, 65536);
  check_common();
}

SlidingWindowOptions WindowSettings::windows() const {
  return SlidingWindowOptions()
      .level(level)
      .kernel(kernel)
      .stride(stride)
      .mpp(mpp)
      .upsample(upsample)
      .roi(roi)
      .min_roi_fraction(min_roi_fraction)
      .min_tissue(min_tissue);
}

Options WindowSettings::options() const {
  // BigChunks are bands of whole window rows: 64 MiB, or one window where that is larger.
  const std::size_t band = std::max<std::size_t>(std::size_t(64) << 20, std::size_t(kernel) * std::size_t(kernel) * 3);
  return common_options().max_bigchunk_bytes(band);
}

std::unique_ptr<LightDLCore> WindowSettings::make(Dataset dataset) const {
  check();
  return make_sliding_window(std::move(dataset), windows(), options());
}

}  // namespace pydmed
