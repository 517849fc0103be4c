// pydmed embed: TorchScript features of every tissue window into CLAM/TRIDENT-style HDF5 files,
// checked against the model run directly on the slide's pixels; resumed after SIGKILL; bad
// models and outputs refused in one line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "pydmed/extensions/feature_file.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

const std::string kCli = PYDMED_CLI;

// A small TorchScript embedder that every pixel of the window's corner and its colour
// statistics reach: [B, 3, K, K] -> [B, 16].
void write_model(const std::string& path, const std::string& body = "") {
  torch::jit::Module m("Embedder");
  torch::manual_seed(7);
  m.register_parameter("w", torch::randn({3 + 3 + 3 * 8 * 8, 16}), false);
  m.define(body.empty() ? R"(
def forward(self, x):
    c = x[:, :, 0:8, 0:8].flatten(1)
    return torch.cat([x.mean([2, 3]), x.std([2, 3]), c], 1).matmul(self.w)
)"
                        : body);
  m.save(path);
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string f; std::getline(in, f, sep);) out.push_back(f);
  return out;
}

TEST(Embed, FeaturesAreTheModelOnEachWindowInWindowOrder) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_model(t.file("m.pt"));
  const std::string slide = wsi("CMU-1-Small-Region.svs");
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " embed " + slide + " --model " + t.file("m.pt") + " --out " + t.file("f") +
                            " --mpp 0.5 --kernel 64 --min-tissue 0 --batch 32",
                        &out, &err),
            0)
      << err;
  const FeatureFile f = FeatureFile::read(t.file("f/CMU-1-Small-Region.h5"));
  EXPECT_EQ(f.dim, 16);
  // The same windows, in the same order, as pydmed sliding-window lists them.
  ASSERT_EQ(run_command(kCli + " sliding-window " + slide + " --mpp 0.5 --kernel 64 --stride 64 --out " + t.file("w.tsv"), &out,
                        &err),
            0)
      << err;
  std::istringstream tsv(read_file(t.file("w.tsv")));
  std::string line;
  std::getline(tsv, line);  // header
  std::vector<std::int64_t> want;
  while (std::getline(tsv, line)) {
    const auto c = split(line, '\t');
    want.push_back(std::stoll(c[1]));
    want.push_back(std::stoll(c[2]));
  }
  ASSERT_EQ(f.coords, want) << "coords: every window once, in window order";
  // Attributes MIL tools and a later reader need.
  EXPECT_EQ(f.attributes.value("mpp", 0.0), 0.5);
  EXPECT_EQ(f.attributes.value("kernel", 0), 64);
  EXPECT_EQ(f.attributes.value("stride", 0), 64);
  EXPECT_EQ(f.attributes.value("model_sha256", "").size(), 64u);
  EXPECT_FALSE(f.attributes.value("pydmed_version", "").empty());
  EXPECT_TRUE(f.attributes.contains("level"));
  // Sampled windows: the model run directly on read_region_at_mpp of the same coordinates.
  torch::jit::Module m = torch::jit::load(t.file("m.pt"));
  const Slide s(slide);
  const auto mean = torch::tensor({0.485, 0.456, 0.406}, torch::kFloat).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.229, 0.224, 0.225}, torch::kFloat).view({1, 3, 1, 1});
  for (std::int64_t r = 0; r < f.rows; r += std::max<std::int64_t>(1, f.rows / 25)) {
    cv::Mat px = s.read_region_at_mpp(f.coords[std::size_t(2 * r)], f.coords[std::size_t(2 * r + 1)], 0.5, 64, 64);
    auto x = torch::from_blob(px.data, {1, 64, 64, 3}, torch::kUInt8).permute({0, 3, 1, 2}).to(torch::kFloat) / 255;
    const auto y = m.forward({(x - mean) / std}).toTensor();
    const auto got = torch::from_blob(const_cast<float*>(&f.features[std::size_t(r * 16)]), {1, 16});
    EXPECT_TRUE(torch::allclose(y, got, 1e-4, 1e-4)) << "row " << r << ": " << y << " vs " << got;
  }
  // h5dump (hdf5-tools) sees the layout CLAM and TRIDENT read.
  ASSERT_EQ(run_command("h5dump -H " + t.file("f/CMU-1-Small-Region.h5"), &out, &err), 0) << err;
  const std::string n = std::to_string(f.rows);
  EXPECT_NE(out.find("DATASET \"features\""), std::string::npos) << out;
  EXPECT_NE(out.find("( " + n + ", 16 )"), std::string::npos) << out;
  EXPECT_NE(out.find("DATASET \"coords\""), std::string::npos) << out;
  EXPECT_NE(out.find("( " + n + ", 2 )"), std::string::npos) << out;
  EXPECT_NE(out.find("H5T_IEEE_F32LE"), std::string::npos) << out;
  EXPECT_NE(out.find("H5T_STD_I64LE"), std::string::npos) << out;
}

}  // namespace
