#include "physical_flags.hpp"

#include <cstdio>

#include "flags.hpp"
#include "pydmed/slide/physical.hpp"

namespace pydmed::cli {

void PhysicalFlags::add_to(CLI::App* sub, CLI::Option* level) {
  auto* m = sub->add_option("--mpp", mpp, "read at this many microns per pixel (sizes are then pixels at it)")
                ->check(mpp_value());
  auto* x = sub->add_option("--magnification", magnification, "read at this magnification: 10/X microns per pixel")
                ->check(magnification_value());
  m->excludes(level)->excludes(x);
  x->excludes(level);
  sub->add_option("--slide-mpp", slide_mpp,
                  "microns per pixel of slides that do not say (a manifest's mpp:RECORD wins)")
      ->check(mpp_value());
  sub->add_flag("--upsample", upsample, "with --mpp finer than a slide: upsample (INTER_LINEAR) instead of refusing");
}

double PhysicalFlags::target() const { return magnification > 0 ? mpp_of_magnification(magnification) : mpp; }

void PhysicalFlags::apply_default(Dataset& ds) const {
  if (!(slide_mpp > 0)) return;
  for (Patient& p : ds.list_patients)
    for (auto& [name, record] : p.dict_records) record.dict_infos["mpp_default"] = slide_mpp;
}

std::string mpp_text(double mpp) {
  if (!(mpp > 0)) return "";
  char s[32];
  std::snprintf(s, sizeof s, "%g", mpp);
  return s;
}

}  // namespace pydmed::cli
