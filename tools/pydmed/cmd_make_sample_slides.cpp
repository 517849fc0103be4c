#include <chrono>
#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "flags.hpp"
#include "progress.hpp"
#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/output_file.hpp"

namespace pydmed::cli {

Command add_make_sample_slides(CLI::App& app) {
  struct Args {
    std::string dir;
    int count = 4;
    std::int64_t size = 8192;
    std::uint64_t seed = 0;
    std::string from;
    double mpp = 0.5;
    int level_step = 2;
    bool force = false;
    ProgressFlags progress;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("make-sample-slides", "Write tissue-like pyramidal TIFF slides and a manifest.csv");
  sub->add_option("DIR", a->dir, "output folder")->required();
  sub->add_option("--count", a->count, "number of slides")->default_val(4)->check(integer(1, 100000));
  sub->add_option("--size", a->size, "width and height in pixels")->default_val(8192)->check(integer(1, 1000000));
  sub->add_option("--seed", a->seed, "random seed")->default_val(0)->check(unsigned_integer());
  sub->add_option("--from", a->from,
                  "a real slide: the pixels become mosaics of its tissue (for benchmarks on real tissue)");
  sub->add_option("--mpp", a->mpp, "microns per pixel of level 0, written as resolution tags")
      ->default_val(0.5)
      ->check(mpp_value());
  sub->add_option("--level-step", a->level_step,
                  "each level's downsample from the one before: 2, or 4 (as 40x scanners)")
      ->default_val(2)
      ->check(CLI::IsMember({2, 4}));
  a->progress.add_to(sub);
  sub->add_flag("--force", a->force, "replace slide_NNN.tiff and manifest.csv files already in DIR");
  return Command{sub, [a] {
    // Files of the user's (or of an earlier run) that this run would replace: refused unless asked.
    if (!a->force) {
      std::vector<std::string> names{"manifest.csv"};
      for (int i = 0; i < a->count; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "slide_%03d.tiff", i);
        names.push_back(name);
      }
      for (const std::string& n : names) {
        std::error_code ec;
        const auto p = std::filesystem::path(a->dir) / n;
        if (std::filesystem::exists(std::filesystem::symlink_status(p, ec)))
          throw UsageError(p.string() + ": already exists; make-sample-slides replaces it only with --force");
      }
    }
    // Megapixels of level 0 counted, so the time left follows the size.
    const std::int64_t mp = std::max<std::int64_t>(1, a->size * a->size / 1000000);
    Progress shown(a->progress, "megapixels", a->count, mp * a->count);
    auto t0 = std::chrono::steady_clock::now();
    auto on_slide = [&](const std::string& slide) {
      const auto now = std::chrono::steady_clock::now();
      shown.add(mp, slide);
      shown.slide_done(slide, mp, std::chrono::duration<double>(now - t0).count());
      t0 = now;
    };
    const Dataset ds = make_sample_dataset(
        a->dir, a->count,
        SampleSlideOptions().width(a->size).height(a->size).seed(a->seed).source(a->from).mpp(a->mpp).level_step(
            a->level_step),
        on_slide);
    shown.finish();
    OutputFile out("-");
    for (const Patient& p : ds.list_patients)
      out.write(p.record("wsi").path() + "\tlabel=" + p.labels["class"].dump() + '\n');
    out.write(a->dir + "/manifest.csv\n");
    out.close();
    return 0;
  }};
}

}  // namespace pydmed::cli
