#include "roi_flags.hpp"

#include "flags.hpp"

namespace pydmed::cli {

void RoiFlags::add_to(CLI::App* sub) {
  sub->add_option("--roi", mode,
                  "with annotations (a manifest's roi:RECORD, or SLIDE.geojson beside a slide): serve patches inside "
                  "them (include) or outside (exclude)")
      ->default_val("include")
      ->check(CLI::IsMember({"include", "exclude"}));
  sub->add_option("--min-roi-fraction", min_fraction,
                  "instead of the patch centre, at least this fraction of its area on the served side")
      ->default_val(0)
      ->check(fraction());
}

std::string roi_text(const ChunkRecord& record) {
  std::string s = record.roi();
  for (char& c : s)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';  // one cell, one line
  return s;
}

}  // namespace pydmed::cli
