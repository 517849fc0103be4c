// Whole-slide tiling: SlidingWindowDL against one read_region per window (N threads), on the
// same slides and windows, in one run. Prints one JSON object.
//   build/benchmarks/sliding_window_bench [--slides DIR] [--level 0] [--kernel 224] [--stride 224]
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/extensions/sliding_window.hpp"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Window {
  std::size_t patient;
  std::int64_t x, y;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sliding_window_bench: SlidingWindowDL against one read_region per window"};
  std::string slides;
  int level = 0, kernel = 224, stride = 224, collectors = 2;
  app.add_option("--slides", slides, "folder of slides or a manifest (default: 2 generated 10000 x 10000 slides)");
  app.add_option("--level", level)->check(CLI::NonNegativeNumber);
  app.add_option("--kernel", kernel)->check(CLI::PositiveNumber);
  app.add_option("--stride", stride)->check(CLI::PositiveNumber);
  app.add_option("--collectors", collectors, "collectors, and threads for the per-window reads")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    if (slides.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      slides = std::string(tmp && *tmp ? tmp : "/tmp") + "/pydmed_sw_bench_slides";
      if (!std::filesystem::exists(slides + "/manifest.csv")) pydmed::make_sample_dataset(slides, 2, 10000, 1);
      slides += "/manifest.csv";
    }
    const pydmed::Dataset ds = pydmed::dataset_from_source(slides);
    // The windows, as SlidingWindowDL defines them.
    std::vector<Window> windows;
    for (std::size_t p = 0; p < ds.size(); ++p) {
      const pydmed::Slide s(ds.list_patients[p].record("wsi").path());
      const auto& L = s.level(level);
      for (auto y : pydmed::WindowAxis::of(L.height, kernel, stride).starts)
        for (auto x : pydmed::WindowAxis::of(L.width, kernel, stride).starts)
          windows.push_back({p, std::llround(double(x) * L.downsample), std::llround(double(y) * L.downsample)});
    }
    nlohmann::json out = {{"workload",
                           {{"slides", slides},
                            {"patients", ds.size()},
                            {"level", level},
                            {"kernel", kernel},
                            {"stride", stride},
                            {"collectors", collectors},
                            {"windows", windows.size()}}},
                          {"results", nlohmann::json::array()}};

    double t0 = now();
    auto dl = pydmed::make_sliding_window(
        ds, pydmed::SlidingWindowOptions().level(level).kernel(kernel).stride(stride),
        pydmed::Options().num_bigchunkloaders(collectors).batch_size(64).max_bigchunk_bytes(std::size_t(48) << 20));
    std::vector<std::uint8_t> buf(64 * std::size_t(kernel) * std::size_t(kernel) * 3);
    std::size_t got = 0;
    while (const std::size_t n = dl->next_batch(buf.data(), 64, nullptr)) got += n;
    const double ours = now() - t0;
    const auto st = dl->stats();
    out["results"].push_back({{"system", "pydmed_torch_sliding_window"},
                              {"windows", got},
                              {"seconds", ours},
                              {"windows_per_s", double(got) / ours},
                              {"bigchunks", st.bigchunks},
                              {"errors", dl->errors().size()}});
    dl.reset();

    t0 = now();
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < collectors; ++t) {
      threads.emplace_back([&] {
        std::vector<pydmed::Slide> handles;
        for (const auto& p : ds.list_patients) handles.emplace_back(p.record("wsi").path());
        std::vector<std::uint8_t> px(std::size_t(kernel) * std::size_t(kernel) * 3);
        for (std::size_t i; (i = next++) < windows.size();) {
          handles[windows[i].patient].read_region_into(px.data(), windows[i].x, windows[i].y, level, kernel, kernel);
        }
      });
    }
    for (auto& t : threads) t.join();
    const double naive = now() - t0;
    out["results"].push_back({{"system", "read_region_per_window"},
                              {"windows", windows.size()},
                              {"seconds", naive},
                              {"windows_per_s", double(windows.size()) / naive}});
    out["pydmed_torch_speedup"] = naive / ours;
    std::cout << out.dump(2) << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "sliding_window_bench: " << e.what() << '\n';
    return 1;
  }
}
