#pragma once
// The flags that read at a physical resolution, the same in every command: --mpp M or
// --magnification X (10/X um/px) instead of --level, --slide-mpp for slides without one,
// --upsample for targets finer than a slide.
#include <CLI/CLI.hpp>
#include <string>

#include "pydmed/data/dataset.hpp"

namespace pydmed::cli {

struct PhysicalFlags {
  double mpp = 0, magnification = 0, slide_mpp = 0;
  bool upsample = false;

  // Adds the four flags to `sub`; --mpp and --magnification exclude `level` and each other.
  void add_to(CLI::App* sub, CLI::Option* level);
  // The target microns per pixel, or 0 when neither --mpp nor --magnification was given.
  double target() const;
  // --slide-mpp: the mpp of every record whose slide has none (a manifest's mpp:RECORD wins).
  void apply_default(Dataset& ds) const;
};

// A TSV cell: the mpp, or empty when the patch was not resampled.
std::string mpp_text(double mpp);

}  // namespace pydmed::cli
