#pragma once
#include <cstdint>
#include <string>

namespace pydmed {

// A rectangle of a level: corner in level-0 pixels (as Slide::read_region takes it), size in
// pixels of the level, and the level's downsample.
struct RegionInfo {
  std::int64_t x = 0, y = 0;
  int level = 0;
  std::int64_t width = 0, height = 0;
  double downsample = 1.0;
};

// A piece of a region that could not be decoded: in pixels of the level read, relative to the
// region's top-left (Slide::read_region_salvage).
// `reason` is the read's error, naming the slide.
struct DamagedPiece {
  int x = 0, y = 0, width = 0, height = 0;
  std::string reason;
};

}  // namespace pydmed
