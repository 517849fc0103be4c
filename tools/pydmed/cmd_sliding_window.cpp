// pydmed sliding-window: tile every slide with SlidingWindowDL and list each delivered window;
// optionally a mean-intensity heatmap per slide. How to check a whole-slide run from outside.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/heatmap.hpp"
#include "pydmed/extensions/sliding_window.hpp"

namespace pydmed::cli {

Runner add_sliding_window(CLI::App& app) {
  struct Args {
    std::string source, out, heatmap;
    int level = 0, kernel = 224, stride = 224, collectors = 2;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("sliding-window", "Tile every slide and write one TSV line per delivered window");
  sub->add_option("SOURCE", a->source, "a manifest file, or a folder of slides (one patient each)")->required();
  sub->add_option("--level", a->level, "pyramid level")->default_val(0)->check(CLI::NonNegativeNumber);
  sub->add_option("--kernel", a->kernel, "window size in pixels")->default_val(224)->check(CLI::PositiveNumber);
  sub->add_option("--stride", a->stride, "step between windows")->default_val(224)->check(CLI::PositiveNumber);
  sub->add_option("--collectors", a->collectors, "slides processed at once")->default_val(2)->check(CLI::PositiveNumber);
  sub->add_option("--out", a->out, "output TSV (default: standard output)");
  sub->add_option("--heatmap", a->heatmap, "folder for each slide's mean-intensity heatmap (PNG and .npy)");
  return [a] {
    const Dataset ds = dataset_from_source(a->source);
    const auto sw = SlidingWindowOptions().level(a->level).kernel(a->kernel).stride(a->stride);
    const std::size_t band = std::max<std::size_t>(std::size_t(64) << 20, std::size_t(a->kernel) * std::size_t(a->kernel) * 3);
    auto dl = make_sliding_window(ds, sw, Options().num_bigchunkloaders(a->collectors).batch_size(32).maxlength_queue_smallchunk(64).max_bigchunk_bytes(band));
    std::ofstream file;
    std::ostream& out = output_to(a->out, file);
    out << "patient\tx\ty\tlevel\twidth\theight\tlast_row\tlast_col\toverlap_y\toverlap_x\tcrc32\n";
    const std::size_t bytes = dl->options().patch_shape().bytes();
    std::vector<std::uint8_t> buf(32 * bytes);
    std::vector<ChunkRecord> rec;
    std::map<std::int64_t, std::vector<WindowValue>> means;
    std::uint64_t windows = 0;
    while (const std::size_t n = dl->next_batch(buf.data(), 32, &rec)) {
      for (std::size_t i = 0; i < n; ++i) {
        const ChunkRecord& r = rec[i];
        const std::uint8_t* px = buf.data() + i * bytes;
        const WindowInfo w = WindowInfo::from_json(r.info_json);
        out << r.patient << '\t' << r.x << '\t' << r.y << '\t' << r.level << '\t' << r.width << '\t' << r.height << '\t'
            << int(w.last_row) << '\t' << int(w.last_col) << '\t' << w.overlap_y << '\t' << w.overlap_x << '\t'
            << crc32(crc32(0L, Z_NULL, 0), px, uInt(bytes)) << '\n';
        if (!a->heatmap.empty()) {
          double sum = 0;
          for (std::size_t k = 0; k < bytes; ++k) sum += px[k];
          means[r.patient].push_back({r.x, r.y, r.level, r.width, r.height, {float(sum / double(bytes))}});
        }
      }
      windows += n;
    }
    out.flush();
    std::cerr << "delivered " << windows << " windows from " << ds.size() << " slides\n";
    for (const auto& e : dl->errors()) std::cerr << "error: patient " << e.patient << ": " << e.message << '\n';
    if (!a->heatmap.empty()) {
      std::filesystem::create_directories(a->heatmap);
      for (auto& [id, values] : means) {
        const Slide slide(ds.patient(id).record("wsi").path());
        const double ds_cell = slide.level(a->level).downsample * a->stride;
        const Heatmap h = Heatmap::from_windows(slide, values, ds_cell);
        const std::string base = a->heatmap + "/heatmap_" + std::to_string(id);
        h.save_png(base + ".png", slide);
        h.save_npy(base + ".npy");
      }
    }
    return dl->errors().empty() ? 0 : 1;
  };
}

}  // namespace pydmed::cli
