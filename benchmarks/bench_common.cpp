#include "bench_common.hpp"

#include <unistd.h>

#include <fstream>
#include <thread>

namespace bench {

nlohmann::json Workload::to_json() const {
  return {{"slides", slides},
          {"patients", dataset.size()},
          {"patch", patch},
          {"bigchunk", bigchunk},
          {"level", level},
          {"collectors", collectors},
          {"batch", batch},
          {"seconds", seconds},
          {"interval_resched", interval_resched},
          {"max_per_bigchunk", max_per_bigchunk},
          {"seed", seed},
          {"mpp", mpp},
          {"resample", resample},
          {"decode_threads", decode_threads},
          {"cores", sysconf(_SC_NPROCESSORS_ONLN)}};
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double peak_rss_mb(int pid) {
  std::ifstream f(pid ? "/proc/" + std::to_string(pid) + "/status" : "/proc/self/status");
  std::string key;
  while (f >> key) {
    if (key == "VmHWM:") {
      double kb = 0;
      f >> kb;
      return kb / 1024.0;
    }
    f.ignore(4096, '\n');
  }
  return 0;
}

pydmed::RegionInfo random_region(pydmed::Rng& rng, const pydmed::Slide& slide, int level, int width, int height) {
  const pydmed::LevelInfo& L = slide.level(level);
  const auto x = rng.between(0, std::max<std::int64_t>(0, L.width - width));
  const auto y = rng.between(0, std::max<std::int64_t>(0, L.height - height));
  return {std::int64_t(double(x) * L.downsample),
          std::int64_t(double(y) * L.downsample),
          level,
          width,
          height,
          L.downsample};
}

nlohmann::json measure(const std::string& name, const Workload& w,
                       const std::function<std::unique_ptr<System>()>& make) {
  const double t0 = now_s();
  std::unique_ptr<System> sys = make();
  std::size_t patches = sys->next_batch();
  const double first = now_s() - t0;
  const double start = now_s();
  const std::uint64_t bc0 = sys->bigchunks();
  while (now_s() - start < w.seconds) patches += sys->next_batch();
  const double elapsed = now_s() - start;
  const std::uint64_t bigchunks = sys->bigchunks() - bc0;
  // The consumer sleeps: settle, then measure the system's CPU for two seconds. Settling takes
  // 2 s: a swap may still happen up to 1 s after the last request, and its new visit then
  // reads its first BigChunks (measured inside the window, that read showed as 4-9% "idle" CPU).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double c0 = self_cpu_seconds() + sys->child_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double idle = (self_cpu_seconds() + sys->child_cpu_seconds() - c0) / 2.0 * 100.0;
  return {{"system", name},
          {"patches_per_s", double(patches) / (elapsed + first > 0 ? elapsed : 1)},
          {"bigchunks_per_s", double(bigchunks) / elapsed},
          {"first_batch_s", first},
          {"idle_cpu_pct", idle},
          {"peak_rss_mb", peak_rss_mb() + sys->child_peak_rss_mb()},
          {"patches", patches}};
}

}  // namespace bench
