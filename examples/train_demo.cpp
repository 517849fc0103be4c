// The demo: train a small CNN to tell the sample slides' two labels apart, from patches served
// by pydmed_torch's LightDL, and check it on patients it never saw.
//
//   build/examples/train_demo [--slides DIR] [--steps N] [--collectors N] [--batch B] [--mpp M]
#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "pydmed/data/manifest.hpp"
#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/extensions/coverage.hpp"
#include "pydmed/torch/extension_dls.hpp"

namespace {

// A user's own SmallChunkCollector, as in PyDmed: random patches, but skip the ones that are
// mostly background (a white slide has nothing to learn).
class TissuePatchCollector : public pydmed::SmallChunkCollector {
 public:
  pydmed::Extraction extract_smallchunk(std::uint64_t call, const pydmed::BigChunk& bc,
                                        const nlohmann::json&) override {
    if (call >= 400) return pydmed::Extraction::done();  // then a fresh BigChunk
    const auto& shape = options().patch_shape();
    pydmed::Rng rng = random_stream(call);
    const int px = int(rng.between(0, bc.data.cols - shape.width));
    const int py = int(rng.between(0, bc.data.rows - shape.height));
    pydmed::SmallChunk c;
    c.data = bc.data(cv::Rect(px, py, shape.width, shape.height));
    cv::Mat grey;
    cv::cvtColor(c.data, grey, cv::COLOR_RGB2GRAY);
    if (cv::mean(grey)[0] > 225) return pydmed::Extraction::skip();
    c.x = bc.region.x + std::int64_t(px * bc.region.downsample);
    c.y = bc.region.y + std::int64_t(py * bc.region.downsample);
    c.level = bc.region.level;
    return c;
  }
};

struct NetImpl : torch::nn::Module {
  torch::nn::Conv2d c1{torch::nn::Conv2dOptions(3, 16, 3).stride(2).padding(1)};
  torch::nn::Conv2d c2{torch::nn::Conv2dOptions(16, 32, 3).stride(2).padding(1)};
  torch::nn::Conv2d c3{torch::nn::Conv2dOptions(32, 64, 3).stride(2).padding(1)};
  torch::nn::Linear fc{64, 2};
  NetImpl() {
    register_module("c1", c1);
    register_module("c2", c2);
    register_module("c3", c3);
    register_module("fc", fc);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(c1(x));
    x = torch::relu(c2(x));
    x = torch::relu(c3(x));
    return fc(x.mean({2, 3}));
  }
};
TORCH_MODULE(Net);

pydmed::Options loader_options(int collectors, int batch, std::uint64_t seed) {
  return pydmed::Options()
      .num_bigchunkloaders(collectors)
      .batch_size(batch)
      .patch_shape({64, 64, 3})
      .max_bigchunk_bytes(std::size_t(1024) * 1024 * 3)
      .maxlength_queue_smallchunk(256)
      .interval_resched(0.5)
      .seed(seed)
      .transform(pydmed::transforms::compose({pydmed::transforms::random_flip(), pydmed::transforms::random_rot90()}));
}

struct Score {
  std::int64_t right = 0, total = 0;
  int patients_right = 0, patients = 0;
  double patch_accuracy() const { return 100.0 * double(right) / double(std::max<std::int64_t>(1, total)); }
};

// Patch accuracy over 40 batches of the patients' patches, and each patient's majority vote.
Score evaluate(Net& net, const pydmed::Dataset& ds, const pydmed::LoaderFactory& bigchunks,
               const pydmed::CollectorFactory& collector, const pydmed::Options& options,
               const pydmed::Collate& collate, int batch) {
  pydmed::LightDL dl(ds, bigchunks, collector, options, pydmed::TorchOptions().label("class").collate(collate));
  std::map<std::int64_t, std::array<int, 2>> votes;
  std::map<std::int64_t, std::int64_t> truth;
  Score s;
  for (int i = 0; i < 40; ++i) {
    pydmed::Batch b = dl.get_batch(std::size_t(batch));
    const auto pred = net->forward(b.data).argmax(1);
    s.right += pred.eq(b.labels).sum().item<std::int64_t>();
    s.total += std::int64_t(b.size());
    for (std::size_t k = 0; k < b.size(); ++k) {
      const std::int64_t p = b.records[k].patient;
      votes[p][std::size_t(pred[std::int64_t(k)].item<std::int64_t>())]++;
      truth[p] = b.labels[std::int64_t(k)].item<std::int64_t>();
    }
  }
  for (auto& [p, v] : votes) s.patients_right += (v[1] > v[0]) == (truth[p] == 1);
  s.patients = int(votes.size());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pydmed_torch demo: train a CNN on patches streamed from whole-slide images"};
  std::string slides = "sample_slides";
  int steps = 800, collectors = 4, batch = 64, count = 8;
  double mpp = 0;
  app.add_option("--slides", slides, "folder of slides with manifest.csv (made if missing)");
  app.add_option("--steps", steps, "training steps")->check(CLI::PositiveNumber);
  app.add_option("--collectors", collectors, "patients loaded at once")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--count", count, "sample slides to make when there are none")->check(CLI::Range(4, 1000));
  app.add_option("--mpp", mpp,
                 "train at this many microns per pixel (the sample slides are 0.5): each BigChunk resampled once")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    torch::manual_seed(0);
    const std::string manifest = slides + "/manifest.csv";
    if (!std::filesystem::exists(manifest)) {
      std::cout << "making " << count << " sample slides in " << slides << " ..." << std::endl;
      pydmed::make_sample_dataset(slides, count, 8192, 0);
    }
    const pydmed::Dataset ds = pydmed::read_manifest(manifest);
    auto label = [](const pydmed::Patient& p) { return p.labels["class"]; };
    const auto parts = ds.labelbalanced_splits_from({75, 25}, label, /*seed=*/0);
    std::cout << ds.size() << " patients: " << parts[0].size() << " for training, " << parts[1].size() << " held out\n";

    auto bigchunks = pydmed::random_bigchunk_loader(
        pydmed::RandomBigChunkOptions().width(1024).height(1024).min_tissue(0.5).mpp(mpp));
    // A user's own collector, as in PyDmed; at a physical resolution, the ready-made one (it cuts
    // patches from each BigChunk, resampled once by the loader), with the same tissue rule per patch.
    pydmed::CollectorFactory collector = [] { return std::make_unique<TissuePatchCollector>(); };
    if (mpp > 0) {
      collector =
          pydmed::random_smallchunk_collector(pydmed::RandomSmallChunkOptions().max_per_bigchunk(400).min_tissue(0.5));
      std::cout << "training at " << mpp << " um/px\n";
    }
    const auto collate = pydmed::default_collate(pydmed::CollateOptions().to_float(true));
    // LabelBalancedDL: the loaded patients' labels stay even, so no stretch of batches is all
    // one label (a model would learn that stretch's label instead of the slides).
    pydmed::LightDL train =
        pydmed::LabelBalancedDL(parts[0], bigchunks, collector, label, loader_options(collectors, batch, 1),
                                pydmed::TorchOptions().label("class").collate(collate));
    auto loader = torch::data::make_data_loader(train, torch::data::samplers::StreamSampler(std::size_t(steps) * batch),
                                                torch::data::DataLoaderOptions().batch_size(std::size_t(batch)));
    Net net;
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
    const auto t0 = std::chrono::steady_clock::now();
    int step = 0;
    double avg_loss = 0;
    std::size_t patches = 0;
    pydmed::CoverageRecorder coverage;  // where the training patches came from
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    for (auto& b : *loader) {
      coverage.add(b.records);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net->forward(b.data), b.labels);
      loss.backward();
      opt.step();
      ++step;
      patches += b.size();
      avg_loss = step == 1 ? loss.item<double>() : 0.95 * avg_loss + 0.05 * loss.item<double>();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const int filled = 30 * step / steps;
      // On a terminal a bar redrawn every 10 steps; in a log a plain line every tenth of the run.
      if (step % (tty ? 10 : std::max(1, steps / 10)) != 0 && step != steps) continue;
      std::printf("%s[%s%s] step %d/%d  loss %.3f  %.0f patches/s %s", tty ? "\r" : "",
                  std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(30 - filled), ' ').c_str(),
                  step, steps, avg_loss, double(patches) / s, tty ? "" : "\n");
      std::fflush(stdout);
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const pydmed::LoaderStats st = train.stats();
    train.stop();
    if (tty) std::printf("\n");
    coverage.save_pngs(slides + "/coverage", parts[0]);

    net->eval();
    torch::NoGradGuard no_grad;
    const Score seen =
        evaluate(net, parts[0], bigchunks, collector, loader_options(collectors, batch, 2), collate, batch);
    const Score held_out =
        evaluate(net, parts[1], bigchunks, collector, loader_options(collectors, batch, 3), collate, batch);
    std::cout << "summary\n"
              << "  training: " << step << " steps, " << patches << " patches in " << train_s << " s ("
              << double(patches) / train_s << " patches/s), final loss " << avg_loss << "\n"
              << "  loader: " << st.bigchunks << " BigChunks, " << st.swaps << " swaps, consumer waited "
              << st.consumer_wait_s << " s (" << 100.0 * st.consumer_wait_s / train_s << "% of training), " << st.errors
              << " errors\n"
              << "  training patients: patch accuracy " << seen.patch_accuracy() << "%\n"
              << "  held-out patients: patch accuracy " << held_out.patch_accuracy() << "% on " << held_out.total
              << " patches (chance 50%), patients right " << held_out.patients_right << "/" << held_out.patients << "\n"
              << "  coverage pictures: " << slides << "/coverage/coverage_<patient>.png\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "train_demo: " << e.what() << '\n';
    return 1;
  }
}
