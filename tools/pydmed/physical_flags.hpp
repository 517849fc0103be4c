#pragma once
// The flags that read at a physical resolution, the same in every command: --mpp M or
// --magnification X (10/X um/px) instead of --level, --slide-mpp for slides without one,
// --upsample for targets finer than a slide.
#include <CLI/CLI.hpp>
#include <string>

#include "pydmed/data/dataset.hpp"

namespace pydmed::cli {

void add_physical_flags(CLI::App* sub, CLI::Option* level, double& mpp, double& magnification, double& slide_mpp,
                        bool& upsample);
// --slide-mpp: the mpp of every record whose slide has none (a manifest's mpp:RECORD wins).
void set_default_mpp(Dataset& ds, double mpp);
// A TSV cell: the mpp, or empty when the patch was not resampled.
std::string mpp_text(double mpp);

}  // namespace pydmed::cli
