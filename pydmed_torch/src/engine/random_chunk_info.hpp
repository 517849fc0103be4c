#pragma once
// Private: what the random BigChunk loader tells its collector about a BigChunk
// (BigChunk::info), written and read here only. Its JSON keys, each absent when it has its
// default: "mpp", "upsample", "patch_width"/"patch_height" (each patch resampled alone),
// "resample": "bigchunk" with "read" [w, h] and "level_downsample" (the BigChunk resampled
// once), "patch_offsets" [x, y], "record", "roi", "roi_mode", "min_roi_fraction".
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "pydmed/slide/annotations.hpp"

namespace pydmed::detail {

struct RandomChunkInfo {
  // At a physical resolution (mpp > 0): the patches' microns per pixel, and INTER_LINEAR allowed.
  double mpp = 0;
  bool upsample = false;
  // ResampleMode::Patch: each patch's region of the level (0: the patch's own size).
  int patch_width = 0, patch_height = 0;
  // ResampleMode::BigChunk: the level pixels read (resampled once to the BigChunk as held) and
  // the level's downsample (0: not resampled).
  int read_width = 0, read_height = 0;
  double level_downsample = 0;
  // On the tile grid: from how many offsets per axis the collector draws (0: anywhere); only
  // where the loader put the BigChunk on the grid.
  std::int64_t offsets_x = 0, offsets_y = 0;
  bool on_grid = false;
  std::string record = "wsi";  // the record read (the collector's min_tissue opens it too)
  // Annotations: which patches the collector may serve ("" : none).
  std::string roi;
  RoiMode roi_mode = RoiMode::Include;
  double min_roi_fraction = 0;

  bool resampled_once() const { return level_downsample > 0; }
  nlohmann::json to_json() const;  // null when every field has its default
  static RandomChunkInfo from_json(const nlohmann::json& info);
};

}  // namespace pydmed::detail
