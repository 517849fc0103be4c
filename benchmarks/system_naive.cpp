// The naive way: one read_region per random patch, N threads, batches handed over a bounded queue.
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "bench_common.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/slide.hpp"

namespace bench {
namespace {

class NaiveSystem : public System {
 public:
  explicit NaiveSystem(const Workload& w) : w_(w) {
    for (int t = 0; t < w.collectors; ++t) threads_.emplace_back([this, t] { work(t); });
  }
  ~NaiveSystem() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::size_t next_batch() override {
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait(g, [&] { return !ready_.empty(); });
    torch::Tensor b = std::move(ready_.front());
    ready_.pop_front();
    cv_.notify_all();
    return std::size_t(b.size(0));
  }
  std::uint64_t bigchunks() const override { return 0; }

 private:
  void work(int t) {
    std::vector<pydmed::Slide> slides;  // one handle per thread and slide, as a user would
    for (const auto& p : w_.dataset.list_patients) slides.emplace_back(p.record("wsi").path());
    pydmed::Rng rng({w_.seed, std::uint64_t(t), 0x9A17E});
    for (;;) {
      auto batch = torch::empty({w_.batch, w_.patch, w_.patch, 3}, torch::kUInt8);
      for (int i = 0; i < w_.batch; ++i) {
        const pydmed::Slide& s = slides[rng.below(slides.size())];
        const auto r = random_region(rng, s, w_.level, w_.patch, w_.patch);
        s.read_region_into(batch[i].data_ptr<std::uint8_t>(), r.x, r.y, r.level, w_.patch, w_.patch);
      }
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return stop_ || ready_.size() < 4; });  // bounded: a sleeping consumer stops the threads
      if (stop_) return;
      ready_.push_back(batch.permute({0, 3, 1, 2}));
      cv_.notify_all();
    }
  }
  Workload w_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<torch::Tensor> ready_;
  bool stop_ = false;
};

}  // namespace

std::unique_ptr<System> make_naive(const Workload& w) { return std::make_unique<NaiveSystem>(w); }

}  // namespace bench
