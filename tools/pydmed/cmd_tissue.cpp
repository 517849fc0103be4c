// pydmed tissue: the tissue mask the loader uses (RandomBigChunkOptions::min_tissue), as a
// picture and as polygons QuPath opens.
#include <iostream>

#include "commands.hpp"
#include "flags.hpp"
#include "output_guard.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"

namespace pydmed::cli {

Command add_tissue(CLI::App& app) {
  struct Args {
    std::string path, out, geojson;
    int size = 1024;
  };
  auto a = std::make_shared<Args>();
  auto* sub =
      app.add_subcommand("tissue", "Write a slide's tissue mask as PNG and/or GeoJSON polygons; print a JSON summary");
  sub->add_option("SLIDE", a->path, "slide or image file")->required();
  sub->add_option("--out", a->out, "mask PNG (255: tissue), one pixel per --size-th of the slide's longest side");
  sub->add_option("--geojson", a->geojson, "tissue as GeoJSON polygons in level-0 pixels (class \"Tissue\")");
  // 4096: a mask finer than that costs gigabytes (the thumbnail and its working copies) and
  // shows nothing a tissue mask needs.
  sub->add_option("--size", a->size, "longest side of the mask, in pixels")
      ->default_val(1024)
      ->check(integer(16, 4096));
  return Command{sub, [a] {
    if (a->out.empty() && a->geojson.empty()) throw UsageError("tissue: give --out MASK.png and/or --geojson FILE");
    refuse_outputs_over_inputs({{"--out", a->out}, {"--geojson", a->geojson}}, {a->path});
    // Both outputs are opened before the work: an unwritable path fails now.
    std::unique_ptr<OutputFile> geo;
    if (!a->geojson.empty()) geo = std::make_unique<OutputFile>(a->geojson, OutputFile::Mode::Atomic);
    if (!a->out.empty()) OutputFile probe(a->out, OutputFile::Mode::Atomic);  // unclosed: its .part is removed
    const Slide slide(a->path);
    const TissueMask mask(slide, TissueMaskOptions().thumbnail_size(a->size));
    const Annotations tissue = Annotations::from_mask(mask.mask(), mask.downsample_x(), mask.downsample_y(), "Tissue");
    if (geo) {
      geo->write(tissue.to_geojson().dump() + "\n");
      geo->close();
    }
    if (!a->out.empty()) write_image(a->out, mask.mask());
    const std::size_t polygons = tissue.empty() ? 0 : tissue.features().front().polygons.size();
    std::cout << nlohmann::json({{"slide", a->path},
                                 {"tissue_fraction", mask.tissue_fraction()},
                                 {"mask_width", mask.mask().cols},
                                 {"mask_height", mask.mask().rows},
                                 {"downsample_x", mask.downsample_x()},
                                 {"downsample_y", mask.downsample_y()},
                                 {"polygons", polygons}})
                     .dump(2)
              << std::endl;
    return 0;
  }};
}

}  // namespace pydmed::cli
