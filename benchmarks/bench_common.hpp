#pragma once
// pydmed_bench: one workload, several systems, one JSON object.
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pydmed/data/dataset.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/region.hpp"
#include "pydmed/slide/slide.hpp"

namespace bench {

struct Workload {
  std::string slides;
  int patch = 224, bigchunk = 2048, collectors = 2, batch = 64, level = 0;
  int decode_threads = 1;  // Options::decode_threads, and per read in the decode_bound systems
  double seconds = 10, interval_resched = 5;
  double mpp = 0;                     // > 0: the pydmed_torch_mpp system reads at this many microns per pixel
  std::string resample = "bigchunk";  // how it resamples: each BigChunk once, or each patch
  std::uint64_t max_per_bigchunk = 0, seed = 0;
  pydmed::Dataset dataset;
  nlohmann::json to_json() const;
};

// What a system reports; the harness adds timing, CPU and memory around it.
class System {
 public:
  virtual ~System() = default;
  // Blocks until a [B, 3, P, P] uint8 batch is ready; returns its size.
  virtual std::size_t next_batch() = 0;
  virtual std::uint64_t bigchunks() const = 0;  // big reads so far (0 where there are none)
  // CPU seconds used outside this process's own threads (child processes), 0 for threads.
  virtual double child_cpu_seconds() const { return 0; }
  // Peak RSS of child processes, MB (0 for thread-based systems).
  virtual double child_peak_rss_mb() const { return 0; }
};

double now_s();
double self_cpu_seconds();
double peak_rss_mb(int pid = 0);  // VmHWM of a process (0: this one), MB
// A uniformly placed width x height region of `level` (corner in level-0 pixels, as read_region takes it).
pydmed::RegionInfo random_region(pydmed::Rng& rng, const pydmed::Slide& slide, int level, int width, int height);

// Runs `make` then the timed loop, in the calling process. Returns the result object.
nlohmann::json measure(const std::string& name, const Workload& w,
                       const std::function<std::unique_ptr<System>()>& make);

std::unique_ptr<System> make_pydmed(const Workload& w);
std::unique_ptr<System> make_naive(const Workload& w);
std::unique_ptr<System> make_chunkdataset(const Workload& w);
// Bare BigChunk reads through `reader` ("": the registry's choice, "openslide", "tiff").
std::unique_ptr<System> make_decode_bound(const Workload& w, const std::string& reader);

}  // namespace bench
