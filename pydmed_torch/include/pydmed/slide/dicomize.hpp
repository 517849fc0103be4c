#pragma once
// A slide as a DICOM whole-slide image series (Supplement 145): one instance per level, plus its
// label, macro and thumbnail. Aperio and generic TIFF pyramids of JPEG tiles are rewrapped
// without re-encoding (each tile becomes a frame; RGB tiles get an Adobe marker saying so, as
// converters add, so that every decoder keeps their colours); `native` stores decoded pixels
// instead, from any slide the project reads.
#include <cstdint>
#include <string>
#include <vector>

#include "pydmed/arg.hpp"

namespace pydmed {

struct DicomizeOptions {
  DicomizeOptions() {}
  // "full": TILED_FULL, frames row by row. "sparse": TILED_SPARSE, each frame's position given,
  // the frames in an order shuffled by `seed` (as some scanners write them).
  PYDMED_ARG(std::string, tiling) = "full";
  PYDMED_ARG(bool, native) = false;  // uncompressed RGB frames (decoded tiles), not the JPEG bytes
  // Sparse only: frames whose pixels are all pure white are left out (a reader paints them white).
  PYDMED_ARG(bool, omit_white) = false;
  PYDMED_ARG(std::uint64_t, seed) = 0;
};

// Writes the series into `out_dir` (made; it must not exist or be empty: nothing is overwritten)
// as level-N.dcm, label.dcm, macro.dcm, thumbnail.dcm, each written whole (a .part renamed).
// Returns the files written. Throws SlideError naming the slide when it cannot be rewrapped (a
// format whose levels are not JPEG tiles, without `native`), OptionsError for bad options, Error
// naming the file on a write failure.
std::vector<std::string> dicomize(const std::string& slide, const std::string& out_dir, const DicomizeOptions& options = {});

}  // namespace pydmed
