#pragma once
// The ready-made runs as flat settings, checked and assembled in one place: what `pydmed stream`
// and `pydmed sliding-window` take as flags, and the Python face (pydmed_torch.stream,
// pydmed_torch.sliding_window) as keyword arguments of the same names.
#include <cstdint>
#include <memory>
#include <string>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/light_dl_core.hpp"
#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/slide/annotations.hpp"

namespace pydmed {

// Random patches: the random BigChunk loader and SmallChunk collector.
struct StreamSettings {
  int patch = 224, bigchunk = 2048, level = 0, collectors = 2;
  double mpp = 0;                    // > 0: patches at this many microns per pixel
  std::string resample = "bigchunk"; // with mpp: each BigChunk resampled once, or each patch ("patch")
  bool upsample = false;
  RoiMode roi = RoiMode::Include;
  double min_roi_fraction = 0, min_tissue = 0;
  double interval_resched = 10;
  std::uint64_t max_per_bigchunk = 0, seed = 0;
  int batch = 64;  // SmallChunks a call to next_batch takes
  int rank = 0, world_size = 1;  // this process's share of the dataset (Options::rank)

  // OptionsError naming the setting as the Python face spells it (patch, bigchunk, ...).
  void check() const;
  RandomBigChunkOptions bigchunks() const;
  Options options() const;
  std::unique_ptr<LightDLCore> make(Dataset dataset) const;  // check()ed first
};

// Every window of every slide once: SlidingWindowDL.
struct WindowSettings {
  int kernel = 224, stride = 224, level = 0, collectors = 2;
  double mpp = 0;
  bool upsample = false;
  RoiMode roi = RoiMode::Include;
  double min_roi_fraction = 0, min_tissue = 0;
  int batch = 32;
  int rank = 0, world_size = 1;

  void check() const;
  SlidingWindowOptions windows() const;
  Options options() const;
  std::unique_ptr<LightDLCore> make(Dataset dataset) const;
};

}  // namespace pydmed
