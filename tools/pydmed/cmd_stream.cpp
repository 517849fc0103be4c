// pydmed stream: run the loader with the ready-made random loader and collector, and list
// every delivered SmallChunk. What training will see, checkable from outside the code.
#include <zlib.h>

#include <chrono>
#include <iostream>
#include <set>
#include <tuple>

#include "commands.hpp"
#include "flags.hpp"
#include "interrupt.hpp"
#include "physical_flags.hpp"
#include "preflight.hpp"
#include "progress.hpp"
#include "pydmed/engine/light_dl_core.hpp"
#include "pydmed/extensions/run_settings.hpp"
#include "pydmed/error.hpp"
#include "roi_flags.hpp"
#include "tsv.hpp"
#include "tsv_output.hpp"

namespace pydmed::cli {

Command add_stream(CLI::App& app) {
  struct Args {
    std::string source, out, resample = "bigchunk";
    StateFlags state;
    ProgressFlags progress;
    int patch = 224, bigchunk = 2048, level = 0, collectors = 2;
    double interval = 10.0, seconds = 0, min_tissue = 0;
    PhysicalFlags physical;
    RoiFlags roi;
    std::uint64_t max_per_bigchunk = 0, seed = 0, count = 0;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("stream", "Run the loader and write one TSV line per delivered SmallChunk");
  sub->add_option("SOURCE", a->source, "a manifest file, a folder of slides (one patient each), or one slide")
      ->required();
  sub->add_option("--patch", a->patch, "patch size in pixels")->default_val(224)->check(integer(1, 65536));
  sub->add_option("--bigchunk", a->bigchunk, "BigChunk size in pixels of the level read")
      ->default_val(2048)
      ->check(integer(1, 65536));
  auto* level = sub->add_option("--level", a->level, "pyramid level")->default_val(0)->check(integer(0, 1000));
  a->physical.add_to(sub, level);
  sub->add_option("--resample", a->resample,
                  "with --mpp: resample each BigChunk once (bigchunk) or each patch alone (patch)")
      ->default_val("bigchunk")
      ->check(CLI::IsMember({"bigchunk", "patch"}));
  a->roi.add_to(sub);
  sub->add_option("--min-tissue", a->min_tissue,
                  "only BigChunks and patches with at least this tissue fraction (pydmed tissue's mask)")
      ->default_val(0)
      ->check(fraction());
  sub->add_option("--collectors", a->collectors, "patients loaded at once")->default_val(2)->check(integer(1, 1024));
  sub->add_option("--interval-resched", a->interval, "seconds between swaps")
      ->default_val(10.0)
      ->check(positive_number());
  sub->add_option("--max-per-bigchunk", a->max_per_bigchunk, "patches per BigChunk, 0: no limit")
      ->default_val(0)
      ->check(unsigned_integer());
  sub->add_option("--seed", a->seed, "random seed")->default_val(0)->check(unsigned_integer());
  auto* count = sub->add_option("--count", a->count, "stop after this many patches")->check(integer(1));
  auto* seconds = sub->add_option("--seconds", a->seconds, "stop after this many seconds")->check(positive_number());
  count->excludes(seconds);
  sub->add_option("--out", a->out, "output TSV (default: standard output)");
  a->progress.add_to(sub);
  a->state.add_to(sub,
                  "resumable: the loader's state, saved with --out every second and at the end; run the same command "
                  "again to go on with new visits (--count counts across runs)");
  return Command{sub, [a] {
    a->state.check_out(a->out);
    if (a->count == 0 && a->seconds <= 0) throw UsageError("stream: give --count N or --seconds S");
    // At an mpp the BigChunk (level pixels) and the patch (target pixels) compare per slide.
    if (a->physical.target() == 0 && a->patch > a->bigchunk) {
      throw UsageError("--patch " + std::to_string(a->patch) + " is larger than --bigchunk " +
                       std::to_string(a->bigchunk) + ": patches are cut from BigChunks");
    }
    std::vector<std::string> skipped;
    Dataset ds = command_dataset(a->source, a->physical, a->roi.roi_mode(),
                                 {{"--out", a->out}, {"--state", a->state.path}}, &skipped);
    const double mpp = a->physical.target();
    StreamSettings settings;
    settings.patch = a->patch, settings.bigchunk = a->bigchunk, settings.level = a->level;
    settings.collectors = a->collectors, settings.mpp = mpp, settings.resample = a->resample;
    settings.upsample = a->physical.upsample, settings.roi = a->roi.roi_mode();
    settings.min_roi_fraction = a->roi.min_fraction, settings.min_tissue = a->min_tissue;
    settings.interval_resched = a->interval, settings.max_per_bigchunk = a->max_per_bigchunk, settings.seed = a->seed;
    settings.batch = int(std::min<std::uint64_t>(64, a->count > 0 ? a->count : 64));
    const int batch = settings.batch;
    const auto loader = admit([&] { return settings.make(ds); },
                              "--collectors " + std::to_string(a->collectors) + " with --bigchunk " +
                                  std::to_string(a->bigchunk));
    LightDLCore& dl = *loader;
    const std::string header =
        "patient\tvisit\tbigchunk_x\tbigchunk_y\tx\ty\tlevel\twidth\theight\tmpp\tcrc32\troi\tresample\tbigchunk_"
        "width\t"
        "bigchunk_height\tbigchunk_target_width\tbigchunk_target_height\tx_in_bigchunk\ty_in_bigchunk\n";
    // Before the run: an unwritable path fails now, not after it. Resumable: OUT and the
    // loader's state committed together; a resumed run cuts OUT back to the last commit and
    // goes on with new visits (visit numbers continue), so no (patient, visit) repeats in OUT.
    const nlohmann::json run = {{"command", "stream"},
                                {"source", a->source},
                                {"slides", ds.records_by_id()},
                                {"slide_files", ds.slide_stamps()},
                                {"patch", a->patch},
                                {"bigchunk", a->bigchunk},
                                {"level", a->level},
                                {"mpp", mpp},
                                {"min_tissue", a->min_tissue},
                                {"max_per_bigchunk", a->max_per_bigchunk},
                                {"seed", a->seed},
                                {"roi", int(a->roi.roi_mode())},
                                {"min_roi_fraction", a->roi.min_fraction},
                                {"resample", a->resample}};
    TsvOutput out(a->out, a->state, run, header);
    std::uint64_t written = 0;
    // Patches counted, of --count where given; patients are swapped, not finished, so no slides.
    Progress shown(a->progress, "patches", -1, a->count > 0 ? std::int64_t(a->count) : -1);
    out.run().attach(dl, ResumableRun::Delivery::Visits);
    if (const nlohmann::json& saved = out.saved(); saved.is_object()) {
      written = saved.value("rows", std::uint64_t(0));
      shown.resumed(0, std::int64_t(written));
    }
    auto state = [&]() -> nlohmann::json { return {{"rows", written}}; };
    const OnInterrupt stop_on_signal([&dl] { dl.stop(); });  // then what is left is written
    const std::size_t bytes = dl.options().patch_shape().bytes();
    std::vector<std::uint8_t> buf(std::size_t(batch) * bytes);
    std::vector<ChunkRecord> rec;
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      std::size_t want = std::size_t(batch);
      double left = -1;
      if (a->count > 0 && written >= a->count) break;  // a resumed run that had finished
      if (a->count > 0) want = std::min<std::uint64_t>(want, a->count - written);
      if (a->seconds > 0) {
        left = a->seconds - std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (left <= 0) break;
      }
      const std::size_t n = dl.next_batch_for(buf.data(), want, &rec, left);
      for (std::size_t i = 0; i < n; ++i) {
        const ChunkRecord& r = rec[i];
        const uLong crc = crc32(crc32(0L, Z_NULL, 0), buf.data() + i * bytes, uInt(bytes));
        out.write(tsv_line(r.patient, r.visit, r.bigchunk.x, r.bigchunk.y, r.x, r.y, r.level, r.width, r.height,
                           mpp_text(r.mpp), crc, roi_text(r),
                           r.cut.resample == PatchCut::Resample::kPatch ? "patch" : "bigchunk", r.cut.read_width,
                           r.cut.read_height, r.bigchunk.width, r.bigchunk.height, r.cut.x, r.cut.y));
      }
      written += n;
      out.maybe_commit(state);
      shown.add(std::int64_t(n), n ? dl.dataset().patient(rec[n - 1].patient).record("wsi").path() : "");
      if ((a->count > 0 && written >= a->count) || (n == 0 && dl.finished())) break;
    }
    shown.finish();
    dl.stop();
    out.close(state);  // a write error ends here with its reason, before any claim of delivery
    const LoaderStats st = dl.stats();
    std::cerr << "delivered " << written << " SmallChunks in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s, " << st.swaps
              << " swaps, " << st.bigchunks << " BigChunks" << (Interrupt::received() ? " (interrupted)" : "") << '\n';
    for (const auto& p : st.patients) {
      std::cerr << "patient " << p.patient << ": " << p.delivered << " delivered, " << p.visits << " visits, "
                << p.bigchunks << " BigChunks" << (p.set_aside ? ", set aside" : "") << '\n';
    }
    // Each reported region once (visits that read the same BigChunk area report it again).
    std::set<std::tuple<std::int64_t, std::int64_t, std::int64_t, int>> seen;
    const std::vector<SkippedReport> damaged = dl.skipped();
    for (const SkippedReport& s : damaged) {
      if (!seen.insert({s.patient, s.region.x, s.region.y, s.region.level}).second) continue;
      std::cerr << "skipped: patient " << s.patient << " region at (" << s.region.x << ", " << s.region.y << ") level "
                << s.region.level << ", " << s.region.width << " x " << s.region.height << ": " << s.region.reason
                << '\n';
    }
    for (const auto& e : dl.errors()) std::cerr << "error: patient " << e.patient << ": " << e.message << '\n';
    if (Interrupt::received()) return Interrupt::exit_status();
    // What was delivered is written either way.
    return dl.errors().empty() && skipped.empty() && damaged.empty() ? 0 : 1;
  }};
}

}  // namespace pydmed::cli
