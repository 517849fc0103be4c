#pragma once
// The flags that restrict patches to a slide's annotations, the same in stream and
// sliding-window: --roi include|exclude and --min-roi-fraction F.
#include <CLI/CLI.hpp>
#include <string>

#include "pydmed/slide/annotations.hpp"

namespace pydmed::cli {

struct RoiFlags {
  std::string mode = "include";
  double min_fraction = 0;

  void add_to(CLI::App* sub);
  RoiMode roi_mode() const { return parse_roi_mode(mode); }
};

// A TSV cell: the annotation class of a SmallChunk's info ("roi"), or empty.
std::string roi_text(const std::string& info_json);

}  // namespace pydmed::cli
