// pydmed_bench: the same workload through pydmed_torch, the naive read_region way and
// LibTorch's ChunkDataset, in one run; prints one JSON object.
//   build/benchmarks/pydmed_bench --seconds 20 --max-per-bigchunk 256
// Each system runs in its own forked process, so memory and CPU figures are its own.
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "bench_common.hpp"
#include "gpu_figures.hpp"
#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed_dl.hpp"

namespace {

nlohmann::json run_isolated(const std::string& name, const bench::Workload& w) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    nlohmann::json r;
    try {
      if (name == "pydmed_torch") {
        bench::Workload native = w;
        native.mpp = 0;
        r = bench::measure(name, native, [&] { return bench::make_pydmed(native); });
      } else if (name == "pydmed_torch_mpp") {
        r = bench::measure(name, w, [&] { return bench::make_pydmed(w); });
        r["mpp"] = w.mpp;
        r["resample"] = w.resample;
      } else if (name == "naive_read_region")
        r = bench::measure(name, w, [&] { return bench::make_naive(w); });
      else if (name == "chunkdataset")
        r = bench::measure(name, w, [&] { return bench::make_chunkdataset(w); });
      else {
        const std::string reader = name == "decode_bound_openslide" ? "openslide"
                                   : name == "decode_bound_tiles"   ? "tiff"
                                                                    : "";
        r = bench::measure(name, w, [&] { return bench::make_decode_bound(w, reader); });
        // The ceiling for any loader serving max_per_bigchunk patches per BigChunk.
        if (w.max_per_bigchunk > 0)
          r["patches_per_s_bound"] = r["bigchunks_per_s"].get<double>() * double(w.max_per_bigchunk);
      }
    } catch (const std::exception& e) {
      r = {{"system", name}, {"error", e.what()}};
    }
    const std::string s = r.dump();
    [[maybe_unused]] auto n = write(fds[1], s.data(), s.size());
    close(fds[1]);
    _exit(0);  // skip static destructors: the system's threads may still be parked
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (out.empty()) return {{"system", name}, {"error", "the benchmark process died"}};
  return nlohmann::json::parse(out);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pydmed_bench: pydmed_torch against the naive way and LibTorch's ChunkDataset"};
  bench::Workload w;
  std::string systems = "pydmed_torch,naive_read_region,chunkdataset";
  app.add_option("--slides", w.slides, "folder of slides or a manifest (default: generated sample slides)");
  app.add_option("--patch", w.patch, "patch size")->default_val(224)->check(CLI::PositiveNumber);
  app.add_option("--bigchunk", w.bigchunk, "BigChunk size")->default_val(2048)->check(CLI::PositiveNumber);
  app.add_option("--level", w.level, "pyramid level")->default_val(0)->check(CLI::NonNegativeNumber);
  app.add_option("--collectors", w.collectors, "collectors, threads or preloaders")
      ->default_val(2)
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", w.batch, "batch size")->default_val(64)->check(CLI::PositiveNumber);
  app.add_option("--seconds", w.seconds, "timed seconds per system")->default_val(10)->check(CLI::PositiveNumber);
  app.add_option("--interval-resched", w.interval_resched, "seconds between swaps")
      ->default_val(5)
      ->check(CLI::PositiveNumber);
  app.add_option("--max-per-bigchunk", w.max_per_bigchunk, "patches per BigChunk, 0: no limit")->default_val(0);
  app.add_option("--seed", w.seed, "random seed")->default_val(0);
  app.add_option("--decode-threads", w.decode_threads,
                 "threads decoding one BigChunk's tiles (the tile reader; 1: off)")
      ->default_val(1)
      ->check(CLI::Range(1, 64));
  app.add_option("--mpp", w.mpp, "also run pydmed_torch_mpp: patches read at this many microns per pixel (resized)")
      ->check(CLI::PositiveNumber);
  app.add_option("--resample", w.resample, "with --mpp: resample each BigChunk once (bigchunk) or each patch (patch)")
      ->default_val("bigchunk")
      ->check(CLI::IsMember({"bigchunk", "patch"}));
  app.add_option(
      "--systems", systems,
      "comma-separated: pydmed_torch,naive_read_region,chunkdataset (default), decode_bound (bare BigChunk reads, "
      "the registry's reader), decode_bound_openslide, decode_bound_tiles (through that reader only), "
      "pydmed_torch_mpp (added by --mpp)");
  bench::GpuWorkload gw;
  app.add_option("--gpu-collectors", gw.collectors, "collectors feeding the GPU model step, 0: cores minus two")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  app.add_option("--gpu-windows", gw.windows, "timed windows of each GPU feed (medians reported)")
      ->default_val(5)
      ->check(CLI::PositiveNumber);
  app.add_option("--gpu-steps", gw.steps, "model steps per GPU window")->default_val(30)->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    if (w.slides.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      w.slides = std::string(tmp && *tmp ? tmp : "/tmp") + "/pydmed_bench_slides";
      if (!std::filesystem::exists(w.slides + "/manifest.csv")) {
        std::cerr << "pydmed_bench: making 8 sample slides of 10000 x 10000 in " << w.slides << "\n";
        pydmed::make_sample_dataset(w.slides, 8, 10000, 0);
      }
      w.slides += "/manifest.csv";
    }
    w.dataset = pydmed::dataset_from_source(w.slides);
    nlohmann::json out = {{"workload", w.to_json()}, {"results", nlohmann::json::array()}};
    if (w.mpp > 0 && systems.find("pydmed_torch_mpp") == std::string::npos) systems += ",pydmed_torch_mpp";
    if (w.mpp <= 0 && systems.find("pydmed_torch_mpp") != std::string::npos)
      throw std::runtime_error("pydmed_torch_mpp needs --mpp");
    std::stringstream ss(systems);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (name != "pydmed_torch" && name != "pydmed_torch_mpp" && name != "naive_read_region" &&
          name != "chunkdataset" && name != "decode_bound" && name != "decode_bound_openslide" &&
          name != "decode_bound_tiles") {
        throw std::runtime_error("unknown system '" + name + "'");
      }
      std::cerr << "pydmed_bench: running " << name << " for " << w.seconds << " s\n";
      out["results"].push_back(run_isolated(name, w));
    }
    // Ratios of pydmed_torch to each system (how many times faster, leaner ...).
    nlohmann::json* ours = nullptr;
    for (auto& r : out["results"])
      if (r["system"] == "pydmed_torch" && r.contains("patches_per_s")) ours = &r;
    if (ours) {
      for (auto& r : out["results"]) {
        if (!r.contains("patches_per_s") || r["patches_per_s"].get<double>() <= 0) continue;
        r["pydmed_torch_speedup"] = (*ours)["patches_per_s"].get<double>() / r["patches_per_s"].get<double>();
        // What reading at a physical resolution keeps of the native throughput.
        if (r["system"] == "pydmed_torch_mpp")
          r["vs_native"] = r["patches_per_s"].get<double>() / (*ours)["patches_per_s"].get<double>();
      }
      // pydmed_torch against each reader's decode bound (patches per BigChunk times BigChunks/s).
      for (const auto& r : out["results"])
        if (r.contains("patches_per_s_bound") && r["patches_per_s_bound"].get<double>() > 0)
          (*ours)["vs_" + r["system"].get<std::string>()] =
              (*ours)["patches_per_s"].get<double>() / r["patches_per_s_bound"].get<double>();
    }
    if (auto g = bench::gpu_figures(w, gw); !g.is_null()) out["gpu"] = g;
    std::cout << out.dump(2) << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "pydmed_bench: " << e.what() << '\n';
    return 1;
  }
}
