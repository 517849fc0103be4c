// pydmed sliding-window: tile every slide with SlidingWindowDL and list each delivered window;
// optionally a mean-intensity heatmap per slide. How to check a whole-slide run from outside.
#include <zlib.h>

#include <chrono>
#include <iostream>
#include <map>
#include <set>

#include "commands.hpp"
#include "flags.hpp"
#include "interrupt.hpp"
#include "physical_flags.hpp"
#include "preflight.hpp"
#include "progress.hpp"
#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/heatmap.hpp"
#include "pydmed/extensions/run_settings.hpp"
#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/output_file.hpp"
#include "roi_flags.hpp"
#include "tsv.hpp"
#include "tsv_output.hpp"

namespace pydmed::cli {

Command add_sliding_window(CLI::App& app) {
  struct Args {
    std::string source, out, heatmap;
    StateFlags state;
    ProgressFlags progress;
    int level = 0, kernel = 224, stride = 224, collectors = 2;
    PhysicalFlags physical;
    RoiFlags roi;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("sliding-window", "Tile every slide and write one TSV line per delivered window");
  sub->add_option("SOURCE", a->source, "a manifest file, a folder of slides (one patient each), or one slide")
      ->required();
  auto* level = sub->add_option("--level", a->level, "pyramid level")->default_val(0)->check(integer(0, 1000));
  a->physical.add_to(sub, level);
  a->roi.add_to(sub);
  sub->add_option("--kernel", a->kernel, "window size in pixels")->default_val(224)->check(integer(1, 65536));
  sub->add_option("--stride", a->stride, "step between windows")->default_val(224)->check(integer(1, 65536));
  sub->add_option("--collectors", a->collectors, "slides processed at once")->default_val(2)->check(integer(1, 1024));
  sub->add_option("--out", a->out, "output TSV (default: standard output)");
  a->progress.add_to(sub);
  auto* heatmap =
      sub->add_option("--heatmap", a->heatmap, "folder for each slide's mean-intensity heatmap (PNG and .npy)");
  a->state
      .add_to(sub,
              "resumable: the run's state, saved with --out every second and at the end; run the same command "
              "again to go on (every window once across stops)")
      ->excludes(heatmap);
  return Command{sub, [a] {
    a->state.check_out(a->out);
    std::vector<std::string> skipped;
    Dataset ds = command_dataset(a->source, a->physical, a->roi.roi_mode(),
                                 {{"--out", a->out}, {"--state", a->state.path}}, &skipped);
    const double mpp = a->physical.target();
    if (!a->heatmap.empty()) make_output_folder(a->heatmap);  // checked before the run, not after
    WindowSettings settings;
    settings.level = a->level, settings.kernel = a->kernel, settings.stride = a->stride, settings.mpp = mpp;
    settings.upsample = a->physical.upsample, settings.roi = a->roi.roi_mode();
    settings.min_roi_fraction = a->roi.min_fraction, settings.collectors = a->collectors;
    auto dl = admit([&] { return settings.make(ds); },
                    "--collectors " + std::to_string(a->collectors) + " with --kernel " + std::to_string(a->kernel));
    const std::string header =
        "patient\tx\ty\tlevel\twidth\theight\tlast_row\tlast_col\toverlap_y\toverlap_x\tmpp\tcrc32\troi\n";
    // Resumable: OUT and the loader's position per patient committed together (a resumed run
    // cuts OUT back to the last commit and restores the positions, so no window is written
    // twice or lost).
    const nlohmann::json run = {{"command", "sliding-window"},
                                {"source", a->source},
                                {"slides", ds.records_by_id()},
                                {"slide_files", ds.slide_stamps()},
                                {"level", a->level},
                                {"kernel", a->kernel},
                                {"stride", a->stride},
                                {"mpp", mpp},
                                {"upsample", a->physical.upsample},
                                {"roi", int(a->roi.roi_mode())},
                                {"min_roi_fraction", a->roi.min_fraction}};
    TsvOutput out(a->out, a->state, run, header);
    std::uint64_t windows = 0;
    Progress shown(a->progress, "windows", std::int64_t(ds.size()), -1);
    if (out.run().resumed()) {
      windows = out.saved().value("windows", std::uint64_t(0));
      std::int64_t finished = 0;
      if (const auto& loader = out.run().saved_loader())
        for (const auto& [id, p] : loader->patients) finished += p.finished;
      shown.resumed(finished, std::int64_t(windows));
    }
    out.run().attach(*dl, ResumableRun::Delivery::Windows);
    // Slides finishing: each patient's collector ended and all it made delivered (polled).
    std::map<std::int64_t, std::chrono::steady_clock::time_point> first_seen;
    std::set<std::int64_t> reported;
    auto last_poll = std::chrono::steady_clock::now();
    auto poll_finished = [&](bool now) {
      const auto t = std::chrono::steady_clock::now();
      if (!now && t - last_poll < std::chrono::milliseconds(500)) return;
      last_poll = t;
      for (const PatientStats& p : dl->stats().patients) {
        if (!p.finished || p.delivered + p.skipped < p.produced || !first_seen.count(p.patient)) continue;
        if (!reported.insert(p.patient).second) continue;
        shown.slide_done(ds.patient(p.patient).record("wsi").path(), std::int64_t(p.delivered),
                         std::chrono::duration<double>(t - first_seen[p.patient]).count());
      }
    };
    auto state = [&]() -> nlohmann::json { return {{"windows", windows}}; };
    const OnInterrupt stop_on_signal([&dl] { dl->stop(); });
    const std::size_t bytes = dl->options().patch_shape().bytes();
    std::vector<std::uint8_t> buf(32 * bytes);
    std::vector<ChunkRecord> rec;
    std::map<std::int64_t, std::vector<WindowValue>> means;
    while (const std::size_t n = dl->next_batch(buf.data(), 32, &rec)) {
      for (std::size_t i = 0; i < n; ++i) {
        const ChunkRecord& r = rec[i];
        const std::uint8_t* px = buf.data() + i * bytes;
        const WindowInfo w = WindowInfo::from_json(r.info_json);
        out.run().delivered(r.patient, w.position);
        out.write(tsv_line(r.patient, r.x, r.y, r.level, r.width, r.height, int(w.last_row), int(w.last_col),
                           w.overlap_y, w.overlap_x, mpp_text(r.mpp), crc32(crc32(0L, Z_NULL, 0), px, uInt(bytes)),
                           roi_text(r)));
        if (!a->heatmap.empty()) {
          double sum = 0;
          for (std::size_t k = 0; k < bytes; ++k) sum += px[k];
          means[r.patient].push_back({r.x, r.y, r.level, r.width, r.height, {float(sum / double(bytes))}});
        }
      }
      windows += n;
      out.maybe_commit(state);
      for (std::size_t i = 0; i < n; ++i) first_seen.emplace(rec[i].patient, std::chrono::steady_clock::now());
      shown.add(std::int64_t(n), n ? ds.patient(rec[n - 1].patient).record("wsi").path() : "");
      poll_finished(false);
    }
    poll_finished(true);
    shown.finish();
    dl->stop();
    out.close(state);
    std::cerr << "delivered " << windows << " windows from " << ds.size() << " slides"
              << (Interrupt::received() ? " (interrupted)" : "") << '\n';
    const std::vector<SkippedReport> damaged = dl->skipped();
    for (const SkippedReport& s : damaged) {
      std::cerr << "skipped: patient " << s.patient << " window at (" << s.region.x << ", " << s.region.y << ") level "
                << s.region.level << ": " << s.region.reason << '\n';
    }
    for (const auto& e : dl->errors()) std::cerr << "error: patient " << e.patient << ": " << e.message << '\n';
    if (Interrupt::received()) return Interrupt::exit_status();
    for (auto& [id, values] : means) {
      if (Interrupt::received()) return Interrupt::exit_status();
      const Record& record = ds.patient(id).record("wsi");
      const Slide slide = open_record_slide(record);
      const Annotations roi = record_annotations(record);  // outlined on the picture
      // One cell a stride: in level-0 pixels, from the level or from the mpp.
      const double ds_cell = (mpp > 0 ? mpp / *slide.mpp_x() : slide.level(a->level).downsample) * a->stride;
      const Heatmap h = Heatmap::from_windows(slide, values, ds_cell);
      const std::string base = a->heatmap + "/heatmap_" + std::to_string(id);
      h.save_png(base + ".png", slide, 0, roi.empty() ? nullptr : &roi);
      h.save_npy(base + ".npy");
    }
    return dl->errors().empty() && skipped.empty() && damaged.empty() ? 0 : 1;
  }};
}

}  // namespace pydmed::cli
