// Whole-slide inference: a small LibTorch model over every window of a slide (SlidingWindowDL),
// outputs streamed to a CSV (StreamCollector), then turned into a heatmap PNG over the slide.
//
//   build/examples/wsi_inference SLIDE [--level 1] [--kernel 128] [--out DIR]
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "pydmed/extensions/heatmap.hpp"
#include "pydmed/torch/extension_dls.hpp"
#include "pydmed/torch/stream_collector.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Whole-slide inference with pydmed_torch: CSV of per-window outputs and a heatmap"};
  std::string slide_path, out = "inference_out";
  int level = 0, kernel = 128;
  app.add_option("SLIDE", slide_path, "a slide OpenSlide (or OpenCV) opens")->required();
  app.add_option("--level", level, "pyramid level")->check(CLI::NonNegativeNumber);
  app.add_option("--kernel", kernel, "window size (and stride)")->check(CLI::PositiveNumber);
  app.add_option("--out", out, "output folder");
  CLI11_PARSE(app, argc, argv);
  try {
    std::filesystem::create_directories(out);
    pydmed::Patient p;
    p.int_uniqueid = 0;
    p.dict_records["wsi"] =
        pydmed::Record{"", std::filesystem::absolute(slide_path).string(), nlohmann::json::object()};
    const pydmed::Dataset ds("inference", {p});

    // A stand-in model: two fixed filters read as "stain darkness" and "texture". A trained
    // network would be loaded here instead (torch::load).
    torch::NoGradGuard no_grad;
    auto model = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 2, 3).padding(1).bias(false));
    model->weight.copy_(torch::stack({torch::full({3, 3, 3}, -1.0 / 27), torch::randn({3, 3, 3}) / 9}));
    auto process = [&](pydmed::Batch& b) {
      const auto x = b.data.to(torch::kFloat32).div(255);
      return model->forward(x).abs().mean({2, 3});  // [B, 2]: one row per window
    };

    const std::string csv = out + "/windows.csv";
    pydmed::StreamCollector sc(
        pydmed::SlidingWindowDL(ds, pydmed::SlidingWindowOptions().level(level).kernel(kernel).stride(kernel),
                                pydmed::Options().num_bigchunkloaders(1)),
        process, pydmed::StreamCollectorOptions().mode(pydmed::CollectMode::StreamToFile).csv_file(csv));
    const auto windows = sc.run();
    for (const auto& e : sc.loader().core().errors()) std::cerr << "error: " << e.message << '\n';

    const pydmed::Slide slide(p.record("wsi").path());
    const auto heat =
        pydmed::Heatmap::from_windows(slide, pydmed::Heatmap::read_csv(csv, 0), slide.level(level).downsample * kernel);
    heat.save_npy(out + "/heatmap.npy");
    heat.save_png(out + "/heatmap.png", slide, 0);
    std::cout << windows << " windows -> " << csv << ", " << out << "/heatmap.png, " << out << "/heatmap.npy\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "wsi_inference: " << e.what() << '\n';
    return 1;
  }
}
