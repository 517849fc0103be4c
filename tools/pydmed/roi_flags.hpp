#pragma once
// The flags that restrict patches to a slide's annotations, the same in stream and
// sliding-window: --roi include|exclude and --min-roi-fraction F.
#include <CLI/CLI.hpp>
#include <string>

#include "pydmed/engine/records.hpp"
#include "pydmed/slide/annotations.hpp"

namespace pydmed::cli {

struct RoiFlags {
  std::string mode = "include";
  double min_fraction = 0;

  void add_to(CLI::App* sub);
  RoiMode roi_mode() const { return parse_roi_mode(mode); }
};

// A TSV cell: the annotation class of a SmallChunk (ChunkRecord::roi) on one line, or empty.
std::string roi_text(const ChunkRecord& record);

}  // namespace pydmed::cli
