// The decoder's ceiling: N threads reading random BigChunks with read_region and nothing else,
// through one reader (decode_bound_openslide, decode_bound_tiles) or the registry's choice
// (decode_bound). It serves no patches and never idles; its BigChunks/s times the patches per
// BigChunk bounds every loader that reads through that reader.
#include <atomic>
#include <thread>

#include "bench_common.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/slide.hpp"

namespace bench {
namespace {

class DecodeBound : public System {
 public:
  DecodeBound(const Workload& w, const std::string& reader) : w_(w), slides_(std::size_t(w.collectors)) {
    // Every thread its own handles, opened here, so that a slide the reader declines is the
    // system's error, not a thread's.
    for (auto& mine : slides_) {
      for (const auto& p : w_.dataset.list_patients) {
        mine.emplace_back(p.record("wsi").path(), reader);
        mine.back().set_decode_threads(w.decode_threads);
      }
    }
    for (int t = 0; t < w.collectors; ++t) threads_.emplace_back([this, t] { work(t); });
  }
  ~DecodeBound() override {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  std::size_t next_batch() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return 0;
  }
  std::uint64_t bigchunks() const override { return count_; }

 private:
  void work(int t) {
    const std::vector<pydmed::Slide>& slides = slides_[std::size_t(t)];
    pydmed::Rng rng({w_.seed, std::uint64_t(t), 0xDEC0DE});
    std::vector<std::uint8_t> buf(std::size_t(w_.bigchunk) * std::size_t(w_.bigchunk) * 3);
    while (!stop_) {
      const pydmed::Slide& s = slides[rng.below(slides.size())];
      const auto& L = s.level(w_.level);
      const int bw = int(std::min<std::int64_t>(w_.bigchunk, L.width)),
                bh = int(std::min<std::int64_t>(w_.bigchunk, L.height));
      const auto r = random_region(rng, s, w_.level, bw, bh);
      s.read_region_into(buf.data(), r.x, r.y, r.level, bw, bh);
      ++count_;
    }
  }
  Workload w_;
  std::vector<std::vector<pydmed::Slide>> slides_;  // per thread
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace

std::unique_ptr<System> make_decode_bound(const Workload& w, const std::string& reader) {
  return std::make_unique<DecodeBound>(w, reader);
}

}  // namespace bench
