// pydmed_torch's loader, through its LibTorch face.
#include <torch/torch.h>

#include "bench_common.hpp"
#include "pydmed_dl.hpp"

namespace bench {

pydmed::LightDL make_pydmed_dl(const Workload& w, torch::Device device, pydmed::Collate collate) {
  const auto bigchunks = pydmed::RandomBigChunkOptions()
                             .level(w.level)
                             .width(w.bigchunk)
                             .height(w.bigchunk)
                             .mpp(w.mpp)
                             .resample(pydmed::parse_resample_mode(w.resample));
  return pydmed::LightDL(
      w.dataset, pydmed::random_bigchunk_loader(bigchunks),
      pydmed::random_smallchunk_collector(pydmed::RandomSmallChunkOptions().max_per_bigchunk(w.max_per_bigchunk)),
      pydmed::Options()
          .num_bigchunkloaders(w.collectors)
          .batch_size(w.batch)
          .maxlength_queue_smallchunk(std::max(100, w.batch))
          .patch_shape({w.patch, w.patch, 3})
          .max_bigchunk_bytes(bigchunks.bigchunk_bytes())
          .loader_scratch_bytes(bigchunks.scratch_bytes())
          .interval_resched(w.interval_resched)
          .decode_threads(w.decode_threads)
          .seed(w.seed),
      pydmed::TorchOptions().device(device).collate(std::move(collate)));
}

namespace {

class PydmedSystem : public System {
 public:
  explicit PydmedSystem(const Workload& w) : w_(w), dl_(make_pydmed_dl(w, torch::kCPU)) {}
  std::size_t next_batch() override { return dl_.get_batch(std::size_t(w_.batch)).size(); }
  std::uint64_t bigchunks() const override { return dl_.stats().bigchunks; }
  double child_cpu_seconds() const override { return dl_.stats().children_cpu_s; }
  double child_peak_rss_mb() const override {
    double mb = 0;
    for (pid_t p : dl_.core().collector_pids()) mb += peak_rss_mb(p);
    return mb;
  }

 private:
  Workload w_;
  pydmed::LightDL dl_;
};

}  // namespace

std::unique_ptr<System> make_pydmed(const Workload& w) { return std::make_unique<PydmedSystem>(w); }

}  // namespace bench
