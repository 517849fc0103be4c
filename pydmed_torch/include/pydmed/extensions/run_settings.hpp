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

// What both runs take: the level or physical resolution read, the annotations and tissue
// served, the collector processes, the batches and this process's share.
struct RunSettings {
  int level = 0, collectors = 2;
  double mpp = 0;  // > 0: at this many microns per pixel
  bool upsample = false;
  RoiMode roi = RoiMode::Include;
  double min_roi_fraction = 0, min_tissue = 0;
  int batch = 64;                // SmallChunks a call to next_batch takes
  int rank = 0, world_size = 1;  // this process's share of the dataset (Options::rank)

 protected:
  void check_common() const;          // OptionsError naming the setting
  Options common_options() const;     // collectors, share, batch and queue
};

// Random patches: the random BigChunk loader and SmallChunk collector.
struct StreamSettings : RunSettings {
  int patch = 224, bigchunk = 2048;
  std::string resample = "bigchunk";  // with mpp: each BigChunk resampled once, or each patch ("patch")
  double interval_resched = 10;
  std::uint64_t max_per_bigchunk = 0, seed = 0;

  // OptionsError naming the setting as the Python face spells it (patch, bigchunk, ...).
  void check() const;
  RandomBigChunkOptions bigchunks() const;
  Options options() const;
  std::unique_ptr<LightDLCore> make(Dataset dataset) const;  // check()ed first
};

// Every window of every slide once: SlidingWindowDL.
struct WindowSettings : RunSettings {
  WindowSettings() { batch = 32; }
  int kernel = 224, stride = 224;

  void check() const;
  SlidingWindowOptions windows() const;
  Options options() const;
  std::unique_ptr<LightDLCore> make(Dataset dataset) const;
};

}  // namespace pydmed
