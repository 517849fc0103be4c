#include <iostream>

#include "commands.hpp"
#include "output_guard.hpp"
#include "pydmed/slide/dicomize.hpp"

namespace pydmed::cli {

Command add_dicomize(CLI::App& app) {
  struct Args {
    std::string slide, out;
    DicomizeOptions options;
    std::string tiling = "full";
    bool native = false, omit_white = false, quiet = false;
    std::uint64_t seed = 0;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "dicomize", "Write a slide as a DICOM whole-slide image series (its JPEG tiles rewrapped, not re-encoded)");
  sub->add_option("SLIDE", a->slide, "an Aperio or generic TIFF pyramid of JPEG tiles (any slide with --native)")
      ->required();
  sub->add_option("OUT_DIR", a->out, "a new or empty folder: level-N.dcm, label.dcm, macro.dcm, thumbnail.dcm")
      ->required();
  sub->add_option("--tiling", a->tiling, "full (frames row by row) or sparse (each frame's position given, shuffled)")
      ->default_val("full")
      ->check(CLI::IsMember({"full", "sparse"}));
  sub->add_flag("--native", a->native, "store decoded RGB pixels instead of the JPEG tiles");
  sub->add_flag("--omit-white", a->omit_white, "with --tiling sparse: leave out frames that are all pure white");
  sub->add_option("--seed", a->seed, "the shuffled order of sparse frames")->default_val(0);
  sub->add_flag("--quiet", a->quiet, "no list of the files written");
  return Command{sub, [a] {
    if (a->omit_white && a->tiling != "sparse") throw UsageError("--omit-white needs --tiling sparse");
    refuse_outputs_over_inputs({{"OUT_DIR", a->out}}, {a->slide});
    const auto files = dicomize(a->slide, a->out,
                                DicomizeOptions().tiling(a->tiling).native(a->native).omit_white(a->omit_white).seed(a->seed));
    if (!a->quiet)
      for (const auto& f : files) std::cout << f << '\n';
    return 0;
  }};
}

}  // namespace pydmed::cli
