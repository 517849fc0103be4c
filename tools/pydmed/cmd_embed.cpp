// pydmed embed (the pydmed-embed executable, which `pydmed embed` runs): every tissue window of
// every slide through a TorchScript model, one HDF5 feature file per slide, resumable. Its own
// executable so that the other commands do not load LibTorch.
#include <torch/cuda.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "embed_ranks.hpp"
#include "flags.hpp"
#include "interrupt.hpp"
#include "physical_flags.hpp"
#include "preflight.hpp"
#include "progress.hpp"
#include "pydmed/engine/distributed.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/feature_index.hpp"
#include "pydmed/sha256.hpp"
#include "pydmed/torch/feature_extractor.hpp"
#include "roi_flags.hpp"
#include "tsv_output.hpp"

namespace pydmed::cli {

namespace {
// The job's report: one JSON line on stdout (this process's rank and world size, the slides it
// wrote, their windows) and, once every slide is done, index.tsv in the output folder.
void report(const std::vector<EmbeddedSlide>& done, bool complete, const std::string& out_dir) {
  nlohmann::json slides = nlohmann::json::array();
  std::int64_t windows = 0;
  std::vector<FeatureIndexRow> rows;
  for (const auto& s : done) {
    if (!s.earlier) slides.push_back(std::filesystem::path(s.file).stem().string()), windows += s.windows;
    if (complete) rows.push_back(feature_index_row(s.file));
  }
  if (complete) write_feature_index(out_dir, rows);
  std::cout << nlohmann::json{{"rank", 0}, {"world_size", 1}, {"slides", slides}, {"windows", windows}}.dump()
            << std::endl;
}

}  // namespace

Runner add_embed(CLI::App* sub) {
  struct Args {
    std::string source, model, out, device = "auto";
    double lease = 60, timeout = 300;
    StateFlags state;
    ProgressFlags progress;
    int level = 0, kernel = 224, stride = 0, collectors = 2, batch = 64;
    std::int64_t max_dim = 65536;
    double min_tissue = 0.25;
    std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};
    PhysicalFlags physical;
    RoiFlags roi;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("SOURCE", a->source, "a manifest file, a folder of slides (one patient each), or one slide")
      ->required();
  sub->add_option("--model", a->model, "TorchScript module: float [B, 3, K, K] in [0, 1], normalised -> [B, D]")
      ->required();
  sub->add_option("--out", a->out, "folder for the feature files, <slide name>.h5 each")->required();
  auto* level = sub->add_option("--level", a->level, "pyramid level")->default_val(0)->check(integer(0, 1000));
  a->physical.add_to(sub, level);
  a->roi.add_to(sub);
  sub->add_option("--kernel", a->kernel, "window size in pixels")->default_val(224)->check(integer(1, 65536));
  sub->add_option("--stride", a->stride, "step between windows (default: the kernel)")->check(integer(1, 65536));
  sub->add_option("--min-tissue", a->min_tissue, "only windows with at least this tissue fraction (0: every window)")
      ->default_val(0.25)
      ->check(fraction());
  sub->add_option("--batch", a->batch, "windows per model call")->default_val(64)->check(integer(1, 65536));
  sub->add_option("--max-dim", a->max_dim, "the largest feature dimension taken (a model returning more is refused)")
      ->default_val(65536)
      ->check(integer(1));
  sub->add_option("--collectors", a->collectors, "slides read at once")->default_val(2)->check(integer(1, 1024));
  sub->add_option("--device", a->device, "where the model runs: auto (cuda:LOCAL_RANK where CUDA is, else cpu), cpu or cuda[:N]")
      ->default_val("auto");
  sub->add_option("--lease", a->lease, "under torchrun: seconds a silent rank keeps its slide before another redoes it")
      ->default_val(60)
      ->check(CLI::Range(0.1, 86400.0));
  sub->add_option("--timeout", a->timeout, "under torchrun: seconds to wait for the job's ranks to join, and for any store call")
      ->default_val(300)
      ->check(CLI::Range(1.0, 86400.0));
  sub->add_option("--mean", a->mean, "per-channel mean after scaling to [0, 1] (3 values)")->expected(3);
  sub->add_option("--std", a->std, "per-channel standard deviation (3 values)")->expected(3);
  a->progress.add_to(sub);
  a->state.add_to(sub,
                  "resumable: the run's state; run the same command again to skip finished slides and finish the "
                  "others, every window once");
  return [a] {
    // The output folder and the model before any slide is read.
    const DistributedEnv env = DistributedEnv::from_env();
    if (env.world_size > 1 && !a->state.path.empty())
      throw UsageError("--state: not across ranks (RANK/WORLD_SIZE set): finished files are the job's record");
    torch::Device device(torch::kCPU);
    try {
      device = a->device != "auto"             ? torch::Device(a->device)
               : torch::cuda::is_available() ? torch::Device(torch::kCUDA, std::int8_t(env.local_rank))
                                             : torch::Device(torch::kCPU);
    } catch (const std::exception&) {
      throw UsageError("--device: auto, cpu or cuda[:N], not '" + a->device + "'");
    }
    if (device.is_cuda() && !torch::cuda::is_available()) {
      throw UsageError("--device " + a->device + ": no CUDA device here (use --device cpu)");
    }
    std::vector<std::string> skipped;
    Dataset ds = command_dataset(a->source, a->physical, a->roi.roi_mode(), {{"--state", a->state.path}}, &skipped);
    auto module = std::make_shared<torch::jit::Module>();
    try {
      *module = torch::jit::load(a->model, device);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      throw Error(a->model + ": cannot load it as a TorchScript module: " + what.substr(0, what.find('\n')));
    }
    module->eval();
    const auto sw = SlidingWindowOptions()
                        .level(a->level)
                        .kernel(a->kernel)
                        .stride(a->stride > 0 ? a->stride : a->kernel)
                        .mpp(a->physical.target())
                        .upsample(a->physical.upsample)
                        .roi(a->roi.roi_mode())
                        .min_roi_fraction(a->roi.min_fraction)
                        .min_tissue(a->min_tissue);
    const std::string model_sha256 = file_sha256(a->model);
    const auto options = [&] {
      return FeatureExtractorOptions()
          .windows(sw)
          .batch_size(std::size_t(a->batch))
          .max_dim(a->max_dim)
          .collectors(a->collectors)
          .device(device)
          .mean(a->mean)
          .std(a->std)
          .model_name(a->model)
          .attributes({{"model_sha256", model_sha256}});
    };
    const FeatureExtractor::Model model = [module](const torch::Tensor& x) { return module->forward({x}).toTensor(); };
    if (env.world_size > 1) {
      std::filesystem::create_directories(a->out);
      RankJob job;
      job.env = env, job.out = a->out, job.lease_s = a->lease, job.timeout_s = a->timeout;
      job.skipped_any = !skipped.empty();
      job.interrupted = [] { return Interrupt::received(); };
      job.interrupt_status = [] { return Interrupt::exit_status(); };
      job.embed = [&](Dataset one, const std::string& dir) {
        FeatureExtractor fx(std::move(one), model, options().out_dir(dir));
        const OnInterrupt stop_on_signal([&fx] { fx.stop(); });
        std::vector<EmbeddedSlide> done = fx.run();
        for (const auto& e : fx.errors()) std::cerr << "error: patient " << e.patient << ": " << e.message << '\n';
        return done;
      };
      return run_embed_ranks(job, ds);
    }
    Progress shown(a->progress, "windows", std::int64_t(ds.size()), -1);
    std::int64_t seen = -1;  // windows told so far; -1: not called yet
    auto on_progress = [&](const EmbedProgress& e) {
      if (seen < 0) {  // what earlier runs finished, said first
        const std::int64_t earlier = e.slides_done - (e.finished.empty() ? 0 : 1);
        if (earlier > 0) shown.resumed(earlier, 0);
        seen = 0;
      }
      shown.add(e.windows_done - seen, e.current);
      seen = e.windows_done;
      if (!e.finished.empty()) shown.slide_done(e.finished, e.finished_windows, e.finished_seconds);
    };
    FeatureExtractor fx(ds, model,
                        options().out_dir(a->out).state_file(a->state.path).state_every(a->state.every).on_progress(
                            on_progress));
    const OnInterrupt stop_on_signal([&fx] { fx.stop(); });
    const std::vector<EmbeddedSlide> done = fx.run();
    shown.finish();
    std::int64_t windows = 0, earlier = 0;
    for (const auto& s : done) {
      windows += s.earlier ? 0 : s.windows;
      earlier += s.earlier;
    }
    std::cerr << "embedded " << windows << " windows into " << done.size() - std::size_t(earlier) << " files in "
              << a->out << (earlier ? " (" + std::to_string(earlier) + " finished earlier)" : "")
              << (Interrupt::received() ? " (interrupted)" : "") << '\n';
    for (const auto& e : fx.errors()) std::cerr << "error: patient " << e.patient << ": " << e.message << '\n';
    if (Interrupt::received()) return Interrupt::exit_status();
    const bool complete = fx.errors().empty() && skipped.empty() && done.size() == ds.size();
    report(done, complete, a->out);
    return complete ? 0 : 1;
  };
}

}  // namespace pydmed::cli
