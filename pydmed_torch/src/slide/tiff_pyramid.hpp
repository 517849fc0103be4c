#pragma once
// Private: what OpenSlide 3.4.1 makes of an Aperio or generic-tiff file (which directories are
// levels, their order and downsamples, the properties, the associated images), worked out from
// the TIFF with OpenSlide's own rules (openslide-vendor-{generic-tiff,aperio}.c, openslide.c and
// openslide-decode-tifflike.c at v3.4.1), and whether every level is JPEG that OpenSlide decodes
// straight with libjpeg (its read_direct path), so that this project can decode it the same way.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pydmed/slide/slide.hpp"
#include "slide/tile_grid.hpp"

namespace pydmed {

struct TiffPyramid {
  std::string vendor;  // "aperio" or "generic-tiff"
  std::vector<TileLevel> tiff_levels;  // JPEG tiles of file 0
  std::vector<LevelInfo> levels;
  std::map<std::string, std::string> properties;
  std::vector<std::string> associated;  // names, in OpenSlide's order
};

// The pyramid of `src`, whose vendor OpenSlide detected as `vendor`. Returns "" with `out`
// filled when every level is JPEG that OpenSlide decodes straight with libjpeg and every tile
// lies in the file, else why not. `quickhash` false leaves openslide.quickhash-1 out.
std::string read_tiff_pyramid(std::shared_ptr<const ByteSource> src, const std::string& vendor, bool quickhash,
                              TiffPyramid& out);

// OpenSlide 3.4.1's verdict on a TIFF it would open as "aperio" or "generic-tiff", from the
// headers alone, for sources OpenSlide cannot open (URLs): "aperio" (ImageDescription starts
// "Aperio"), "generic-tiff" (a tiled first directory and none of the markers of the TIFF vendors
// OpenSlide tries first: Philips, Leica, Ventana, Trestle, NDPI), else "".
std::string detect_tiff_vendor(std::shared_ptr<const ByteSource> src);

}  // namespace pydmed
