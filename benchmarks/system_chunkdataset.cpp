// LibTorch's own ChunkDataset (its threaded take on BigChunks): a chunk is one random BigChunk
// read through pydmed::Slide (the registry's reader, as pydmed_torch reads), cut into max_per_bigchunk patches (1024
// when there is no limit).
#include <torch/torch.h>

#include <atomic>

#include "bench_common.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/slide.hpp"

namespace bench {
namespace {

class SlideChunkReader : public torch::data::datasets::ChunkDataReader<torch::Tensor> {
 public:
  using BatchType = ChunkType;
  explicit SlideChunkReader(const Workload& w) : w_(w), count_(std::make_shared<std::atomic<std::uint64_t>>(0)) {
    for (const auto& p : w.dataset.list_patients)
      slides_.push_back(std::make_shared<pydmed::Slide>(p.record("wsi").path()));
  }
  ChunkType read_chunk(std::size_t index) override {
    pydmed::Rng rng({w_.seed, index, 0xC4C});
    const pydmed::Slide& s = *slides_[rng.below(slides_.size())];
    const auto& L = s.level(w_.level);
    const int bw = int(std::min<std::int64_t>(w_.bigchunk, L.width)),
              bh = int(std::min<std::int64_t>(w_.bigchunk, L.height));
    const auto r = random_region(rng, s, w_.level, bw, bh);
    const cv::Mat big = s.read_region(r.x, r.y, r.level, std::max(bw, w_.patch), std::max(bh, w_.patch));
    ++*count_;
    const std::uint64_t k = w_.max_per_bigchunk ? w_.max_per_bigchunk : 1024;
    ChunkType out;
    out.reserve(k);
    for (std::uint64_t i = 0; i < k; ++i) {
      const int px = int(rng.between(0, big.cols - w_.patch)), py = int(rng.between(0, big.rows - w_.patch));
      const cv::Mat roi = big(cv::Rect(px, py, w_.patch, w_.patch)).clone();
      out.push_back(torch::from_blob(roi.data, {w_.patch, w_.patch, 3}, torch::kUInt8).clone());
    }
    return out;
  }
  std::size_t chunk_count() override { return 1000000; }
  void reset() override {}
  std::uint64_t count() const { return *count_; }

 private:
  Workload w_;
  std::vector<std::shared_ptr<pydmed::Slide>> slides_;
  std::shared_ptr<std::atomic<std::uint64_t>> count_;
};

class ChunkSystem : public System {
  using Dataset = torch::data::datasets::ChunkDataset<SlideChunkReader, torch::data::samplers::SequentialSampler,
                                                      torch::data::samplers::RandomSampler>;

 public:
  explicit ChunkSystem(const Workload& w)
      : w_(w),
        reader_(w),
        dataset_(reader_, torch::data::samplers::SequentialSampler(0), torch::data::samplers::RandomSampler(0),
                 torch::data::datasets::ChunkDatasetOptions(std::size_t(w.collectors), std::size_t(w.batch),
                                                            std::size_t(w.batch) * 32)) {
    dataset_.reset();
  }
  std::size_t next_batch() override {
    auto b = dataset_.get_batch(std::size_t(w_.batch));
    if (!b) return 0;
    const torch::Tensor batch = torch::stack(*b).permute({0, 3, 1, 2});  // [B, 3, P, P] uint8
    return std::size_t(batch.size(0));
  }
  std::uint64_t bigchunks() const override { return reader_.count(); }

 private:
  Workload w_;
  SlideChunkReader reader_;  // shares its counter with the dataset's copy
  Dataset dataset_;
};

}  // namespace

std::unique_ptr<System> make_chunkdataset(const Workload& w) { return std::make_unique<ChunkSystem>(w); }

}  // namespace bench
