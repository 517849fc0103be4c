// The path to the device: the collate's two stages, reused batch buffers, LOCAL_RANK, and on
// a CUDA machine the copy stream (the CUDA tests skip themselves elsewhere).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <mutex>

#include "engine_helpers.hpp"
#include "pydmed/error.hpp"
#include "pydmed/torch/device.hpp"
#include "pydmed/torch/light_dl.hpp"
#include "torch/batch_buffers.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

const std::vector<double> kMean{0.485, 0.456, 0.406}, kStd{0.229, 0.224, 0.225};

// The one-stage collate this project had before: float conversion and normalisation on the CPU.
torch::Tensor one_stage_reference(const torch::Tensor& u8) {
  auto mean = torch::tensor(std::vector<float>(kMean.begin(), kMean.end())).view({1, -1, 1, 1});
  auto std = torch::tensor(std::vector<float>(kStd.begin(), kStd.end())).view({1, -1, 1, 1});
  return u8.to(torch::kFloat32).div_(255.0).sub_(mean).div_(std);
}

// Keeps a clone of every batch as the host stage saw it (uint8, before the transfer).
struct HostCopies {
  std::mutex mu;
  std::vector<torch::Tensor> data;
  Collate with(const Collate& device) {
    return Collate(
        [this](Batch& b) {
          std::lock_guard<std::mutex> g(mu);
          EXPECT_EQ(b.data.dtype(), torch::kUInt8) << "the host stage sees the batch as gathered";
          data.push_back(b.data.clone());
        },
        device.device);
  }
};

LightDL make_dl(TorchOptions t, int patients = 2) {
  return LightDL(sample_dataset(patients), random_bigchunk_loader(test_bigchunks()),
                 random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(40)), test_options(),
                 std::move(t));
}

TEST(TorchGpuPath, TwoStageCollateEqualsTheOneStageResultOnTheCpu) {
  HostCopies host;
  LightDL dl = make_dl(
      TorchOptions().collate(host.with(default_collate(CollateOptions().to_float(true).mean(kMean).std(kStd)))));
  for (int i = 0; i < 5; ++i) {
    const Batch b = dl.get_batch(8);
    ASSERT_EQ(b.size(), 8u);
    ASSERT_EQ(b.data.dtype(), torch::kFloat32);
    EXPECT_TRUE(b.data.is_contiguous(torch::MemoryFormat::ChannelsLast)) << "Preserve keeps the gathered layout";
    std::lock_guard<std::mutex> g(host.mu);
    ASSERT_EQ(host.data.size(), std::size_t(i + 1));
    EXPECT_TRUE(torch::equal(b.data, one_stage_reference(host.data.back()))) << "bit for bit, batch " << i;
  }
}

TEST(TorchGpuPath, CollateDtypeAndLayout) {
  Batch b;
  b.data = torch::randint(0, 256, {4, 5, 6, 3}, torch::kUInt8).permute({0, 3, 1, 2});
  Batch c = b, h = b;
  default_collate(CollateOptions().to_float(true).mean(kMean).std(kStd).memory_format(torch::MemoryFormat::Contiguous))
      .device(c);
  EXPECT_TRUE(c.data.is_contiguous());
  EXPECT_TRUE(torch::equal(c.data, one_stage_reference(b.data)));
  default_collate(CollateOptions().to_float(true).mean(kMean).std(kStd).dtype(torch::kBFloat16)).device(h);
  EXPECT_EQ(h.data.dtype(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(h.data, one_stage_reference(b.data).to(torch::kBFloat16)))
      << "computed in float32, converted last";
  EXPECT_THROW(default_collate(CollateOptions().dtype(torch::kHalf)), OptionsError) << "dtype without to_float";
  EXPECT_THROW(default_collate(CollateOptions().to_float(true).dtype(torch::kInt32)), OptionsError);
  EXPECT_THROW(default_collate(CollateOptions().to_float(true).mean({0.5})), OptionsError);
  // A plain function is a host stage.
  const Collate plain([](Batch& x) { x.data = x.data.flip(2); });
  EXPECT_TRUE(plain.host);
  EXPECT_FALSE(plain.device);
}

TEST(TorchGpuPath, BatchBuffersAreReusedAndNeverOverwriteAHeldBatch) {
  BatchBuffers pool({4, 4, 3}, /*pinned=*/false, /*capacity=*/3);
  for (int i = 0; i < 10; ++i) pool.acquire(8).fill_(std::uint8_t(i));
  EXPECT_EQ(pool.allocations(), 1u) << "a dropped batch's buffer comes back";
  pool.acquire(16);
  EXPECT_EQ(pool.allocations(), 2u) << "a bigger request replaces the buffer";
  EXPECT_EQ(pool.acquire(4).size(0), 4) << "and smaller ones are views of it";
  EXPECT_EQ(pool.allocations(), 2u);
  // The loop keeps batches (or views of them): those buffers are never handed out again.
  std::vector<torch::Tensor> held;
  for (int i = 0; i < 6; ++i) {
    held.push_back(pool.acquire(8).permute({0, 3, 1, 2}));
    held.back().fill_(std::uint8_t(100 + i));
  }
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(held[std::size_t(i)].eq(100 + i).all().item<bool>()) << "held batch " << i;
  EXPECT_LE(pool.allocations(), 8u);
}

TEST(TorchGpuPath, ABatchTheLoopKeepsIsNeverOverwritten) {
  LightDL dl = make_dl(TorchOptions());
  const Batch kept = dl.get_batch(8);
  const torch::Tensor copy = kept.data.clone();
  for (int i = 0; i < 12; ++i) dl.get_batch(8);
  EXPECT_TRUE(torch::equal(kept.data, copy));
}

TEST(TorchGpuPath, DeviceFollowsLocalRank) {
  const auto cuda = [](int i) { return torch::Device(torch::kCUDA, c10::DeviceIndex(i)); };
  EXPECT_EQ(resolve_device(torch::nullopt, nullptr, 4, 0), torch::Device(torch::kCPU)) << "no torchrun: the CPU";
  EXPECT_EQ(resolve_device(torch::nullopt, "2", 4, 0), cuda(2)) << "one GPU per rank";
  EXPECT_EQ(resolve_device(torch::nullopt, "2", 0, 0), torch::Device(torch::kCPU)) << "torchrun on a CPU machine";
  EXPECT_EQ(resolve_device(torch::Device(torch::kCUDA), "3", 4, 0), cuda(3));
  EXPECT_EQ(resolve_device(torch::Device(torch::kCUDA), nullptr, 4, 1), cuda(1)) << "the current GPU";
  EXPECT_EQ(resolve_device(cuda(1), "3", 4, 0), cuda(1)) << "an explicit index wins";
  EXPECT_EQ(resolve_device(torch::Device(torch::kCPU), "3", 4, 0), torch::Device(torch::kCPU));
  EXPECT_THROW(resolve_device(torch::nullopt, "two", 4, 0), OptionsError);
  EXPECT_THROW(resolve_device(torch::nullopt, "4", 4, 0), OptionsError);
  EXPECT_THROW(resolve_device(torch::Device(torch::kCUDA), nullptr, 0, 0), OptionsError);
  try {
    resolve_device(torch::nullopt, "5", 2, 0);
    FAIL() << "LOCAL_RANK 5 on a 2-GPU machine";
  } catch (const OptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("LOCAL_RANK"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2 CUDA devices"), std::string::npos) << e.what();
  }
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(make_dl(TorchOptions()).device(), torch::Device(torch::kCPU));
    EXPECT_THROW(make_dl(TorchOptions().device(torch::kCUDA)), OptionsError)
        << "one clear line, not a crash at the first copy";
  }
}

// ---- On a CUDA machine ----

#define PYDMED_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

// Every batch on the device equals what the host stage saw, converted: a missing wait between
// the copy stream and the training loop's stream, or a pinned buffer reused while its copy was
// in flight, shows here as wrong values. The loop keeps the GPU busy on its own stream so the
// copies of the next batches overlap its kernels.
TEST(TorchGpuPath, CudaBatchesEqualTheHostStageUnderLoad) {
  PYDMED_REQUIRE_CUDA();
  for (int workers : {0, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    HostCopies host;
    LightDL dl(sample_dataset(4), random_bigchunk_loader(test_bigchunks()),
               random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(40)), test_options(),
               TorchOptions()
                   .device(torch::kCUDA)
                   .label("class")
                   .collate(host.with(default_collate(CollateOptions().to_float(true).mean(kMean).std(kStd)))));
    EXPECT_EQ(dl.device(), torch::Device(torch::kCUDA, 0));
    auto loader =
        torch::data::make_data_loader(dl, torch::data::samplers::StreamSampler(32 * 40),
                                      torch::data::DataLoaderOptions().batch_size(32).workers(std::size_t(workers)));
    auto busy = torch::randn({2048, 2048}, torch::kCUDA);
    std::vector<Batch> batches;
    for (auto& b : *loader) {
      ASSERT_TRUE(b.data.is_cuda());
      ASSERT_TRUE(b.labels.is_cuda());
      for (int k = 0; k < 4; ++k) busy = torch::mm(busy, busy).tanh_();  // the "training step"
      batches.push_back(b);
    }
    ASSERT_EQ(batches.size(), 40u);
    // Each batch must equal one host copy (with workers, batches may arrive out of order).
    std::lock_guard<std::mutex> g(host.mu);
    ASSERT_GE(host.data.size(), 40u);  // and the batch prefetched when the loop ended
    std::vector<bool> used(host.data.size());
    for (const Batch& b : batches) {
      const torch::Tensor got = b.data.cpu();
      bool found = false;
      for (std::size_t i = 0; i < used.size() && !found; ++i) {
        if (used[i]) continue;
        const torch::Tensor want = one_stage_reference(host.data[i]);
        if ((got - want).abs().max().item<float>() <= 1e-5f) used[i] = found = true;
      }
      EXPECT_TRUE(found) << "a batch on the device matches nothing the host stage saw";
      const torch::Tensor p = b.patients.cpu();
      for (std::size_t k = 0; k < b.size(); ++k)
        EXPECT_EQ(p[std::int64_t(k)].item<std::int64_t>(), b.records[k].patient);
    }
  }
}

TEST(TorchGpuPath, CudaDeviceFollowsLocalRank) {
  PYDMED_REQUIRE_CUDA();
  const char* before = std::getenv("LOCAL_RANK");
  const std::string saved = before ? before : "";
  ::setenv("LOCAL_RANK", "0", 1);
  LightDL dl = make_dl(TorchOptions());
  if (before)
    ::setenv("LOCAL_RANK", saved.c_str(), 1);
  else
    ::unsetenv("LOCAL_RANK");
  EXPECT_EQ(dl.device(), torch::Device(torch::kCUDA, 0));
  const Batch b = dl.get_batch(4);
  EXPECT_TRUE(b.data.is_cuda());
  EXPECT_EQ(b.data.dtype(), torch::kUInt8) << "uint8 over the bus";
}

}  // namespace
