#pragma once
// Synthetic, tissue-like, tiled JPEG pyramidal TIFFs that OpenSlide opens as "generic-tiff".
// Written tile by tile from a procedural image (or a mosaic of a real slide), so memory stays
// small at any size.
#include <cstdint>
#include <string>

#include "pydmed/arg.hpp"

namespace pydmed {

struct SampleSlideOptions {
  SampleSlideOptions() {}
  PYDMED_ARG(std::int64_t, width) = 8192;
  PYDMED_ARG(std::int64_t, height) = 8192;
  PYDMED_ARG(std::uint64_t, seed) = 0;
  // 0: sparse small nuclei; 1: dense large nuclei ("tumour"). What the demo learns to tell apart.
  PYDMED_ARG(int, label) = 0;
  PYDMED_ARG(int, tile_size) = 256;  // a multiple of 16, as TIFF requires
  PYDMED_ARG(int, jpeg_quality) = 90;
  PYDMED_ARG(double, mpp) = 0.5;  // microns per level-0 pixel, written as resolution tags
  // Each level's downsample from the one before: 2, or 4 as 40x scanners write (0.25 um/px with
  // levels at 4x and 16x, no level at 0.5).
  PYDMED_ARG(int, level_step) = 2;
  // A real slide: the pixels are then a mosaic of blocks of its tissue (label ignored), for
  // benchmarks on real tissue, which decodes slower than the procedural pictures.
  PYDMED_ARG(std::string, source) = "";
};

// Writes the slide to `path`; levels shrink by level_step until the whole level fits in one tile.
// Returns the number of levels written. Throws Error naming the path on failure.
int write_sample_slide(const std::string& path, const SampleSlideOptions& options);

}  // namespace pydmed
