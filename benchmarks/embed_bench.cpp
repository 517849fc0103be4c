// Feature extraction: windows per second of pydmed::FeatureExtractor (slides -> model -> HDF5)
// against the same model fed synthetic batches already on the device, in one run, so that the
// loader's share of the time shows. Prints one JSON object; "vs_model_only" near 1 means the
// model, not the loader, sets the pace.
//   build/benchmarks/embed_bench [--slides DIR] [--model M.pt] [--kernel 224] [--batch 64] [--device cuda]
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/torch/feature_extractor.hpp"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// A small CNN embedder (ResNet-like stem, 256 features) when no --model is given.
torch::jit::Module default_model() {
  torch::jit::Module m("Embedder");
  torch::manual_seed(0);
  m.register_parameter("c1", torch::randn({32, 3, 7, 7}) * 0.05, false);
  m.register_parameter("c2", torch::randn({64, 32, 3, 3}) * 0.05, false);
  m.register_parameter("c3", torch::randn({128, 64, 3, 3}) * 0.05, false);
  m.register_parameter("fc", torch::randn({128, 256}) * 0.05, false);
  m.define(R"(
def forward(self, x):
    x = torch.relu(torch.conv2d(x, self.c1, stride=4, padding=3))
    x = torch.relu(torch.conv2d(x, self.c2, stride=2, padding=1))
    x = torch.relu(torch.conv2d(x, self.c3, stride=2, padding=1))
    return x.mean([2, 3]).matmul(self.fc)
)");
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"embed_bench: FeatureExtractor against its model on synthetic batches"};
  std::string slides, model_path, device_name = torch::cuda::is_available() ? "cuda" : "cpu";
  int kernel = 224, batch = 64, collectors = 2, repeats = 3;
  app.add_option("--slides", slides, "folder of slides or a manifest (default: 2 generated 6000 x 6000 slides)");
  app.add_option("--model", model_path, "TorchScript module [B, 3, K, K] -> [B, D] (default: a small CNN)");
  app.add_option("--kernel", kernel)->check(CLI::PositiveNumber);
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--collectors", collectors)->check(CLI::PositiveNumber);
  app.add_option("--device", device_name, "cpu or cuda (default: cuda when there is one)");
  app.add_option("--repeats", repeats, "runs of each, medians reported")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    const char* tmp = std::getenv("TMPDIR");
    const std::string scratch = std::string(tmp && *tmp ? tmp : "/tmp") + "/pydmed_embed_bench";
    if (slides.empty()) {
      slides = scratch + "_slides";
      if (!std::filesystem::exists(slides + "/manifest.csv")) pydmed::make_sample_dataset(slides, 2, 6000, 1);
      slides += "/manifest.csv";
    }
    const torch::Device device(device_name);
    torch::jit::Module model = model_path.empty() ? default_model() : torch::jit::load(model_path);
    model.to(device);
    model.eval();
    torch::NoGradGuard no_grad;
    auto forward = [&](const torch::Tensor& x) { return model.forward({x}).toTensor(); };
    const pydmed::Dataset ds = pydmed::dataset_from_source(slides);

    std::vector<double> embed_rate, model_rate;
    std::int64_t windows = 0;
    for (int r = 0; r < repeats; ++r) {
      std::filesystem::remove_all(scratch + "_out");
      pydmed::FeatureExtractor fx(
          ds, forward,
          pydmed::FeatureExtractorOptions()
              .windows(pydmed::SlidingWindowOptions().kernel(kernel).stride(kernel).min_tissue(0))
              .out_dir(scratch + "_out")
              .batch_size(std::size_t(batch))
              .collectors(collectors)
              .device(device));
      const double t0 = now();
      windows = 0;
      for (const auto& s : fx.run()) windows += s.windows;
      if (device.is_cuda()) torch::cuda::synchronize();
      embed_rate.push_back(double(windows) / (now() - t0));
      // The same number of windows through the model alone, on batches already there.
      // Laid out as the loader's batches are (channels-last, straight from the ring slots).
      const torch::Tensor x = torch::rand({batch, 3, kernel, kernel}, torch::TensorOptions().device(device))
                                  .contiguous(torch::MemoryFormat::ChannelsLast);
      forward(x);  // warm-up
      if (device.is_cuda()) torch::cuda::synchronize();
      const double t1 = now();
      for (std::int64_t done = 0; done < windows; done += batch) forward(x).sum().item<float>();
      model_rate.push_back(double(windows) / (now() - t1));
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double e = median(embed_rate), m = median(model_rate);
    nlohmann::json out = {{"workload",
                           {{"slides", slides},
                            {"patients", ds.size()},
                            {"kernel", kernel},
                            {"batch", batch},
                            {"collectors", collectors},
                            {"device", device.str()},
                            {"windows", windows},
                            {"model", model_path.empty() ? "built-in CNN" : model_path},
                            {"repeats", repeats}}},
                          {"embed_windows_per_s", e},
                          {"model_only_windows_per_s", m},
                          {"vs_model_only", e / m},
                          {"runs", {{"embed", embed_rate}, {"model_only", model_rate}}}};
    std::cout << out.dump(2) << std::endl;
    std::filesystem::remove_all(scratch + "_out");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "embed_bench: " << e.what() << '\n';
    return 1;
  }
}
