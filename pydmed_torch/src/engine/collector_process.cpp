#include "engine/collector_process.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "engine/process.hpp"
#include "engine/task_context.hpp"
#include "pydmed/error.hpp"

namespace pydmed::detail {

namespace {

volatile std::sig_atomic_t g_stop = 0;  // set by SIGTERM: the root swaps this patient out
constexpr int kStoppedWhileLoading = -1;
extern "C" void on_sigterm(int) { g_stop = 1; }

std::string who(const VisitSpec& v) {
  return "patient " + std::to_string(v.patient.int_uniqueid) + " visit " + std::to_string(v.visit);
}

// Runs in the BigChunkLoader process: one BigChunk into the slot's buffer.
int run_loader(const VisitSpec& v, const CollectorEnv& env, std::uint32_t number) {
  CollectorSlot& slot = *env.slot;
  TaskContext ctx;
  ctx.patient = &v.patient;
  ctx.options = env.options;
  ctx.visit = v.visit;
  ctx.bigchunk_number = number;
  ctx.role = 1;
  ctx.checkpoint = v.checkpoint;
  ctx.log_fd = env.log_fd;
  ctx.bigchunk_memory = slot.bigchunk_pixels;
  ctx.bigchunk_capacity = env.options->max_bigchunk_bytes();
  try {
    std::unique_ptr<BigChunkLoader> loader = (*env.make_loader)();
    TaskAccess::attach(*loader, &ctx);
    std::optional<BigChunk> bc = loader->extract_bigchunk(v.message);
    if (!bc) return kExitFinished;
    const cv::Mat& m = bc->data;
    if (m.empty() || m.depth() != CV_8U) throw Error("BigChunk data must be a non-empty 8-bit image");
    const std::size_t bytes = m.total() * m.elemSize();
    if (bytes > ctx.bigchunk_capacity) {
      throw Error("BigChunk of " + std::to_string(bytes) + " bytes exceeds Options::max_bigchunk_bytes");
    }
    if (m.data != slot.bigchunk_pixels) {  // not read into allocate()'s memory: copy it there
      cv::Mat dst(m.rows, m.cols, m.type(), slot.bigchunk_pixels);
      m.copyTo(dst);
    }
    const std::string info = bc->info.is_null() || bc->info.empty() ? "" : bc->info.dump();
    if (info.size() > env.options->max_bigchunk_info_bytes()) throw Error("BigChunk info exceeds Options::max_bigchunk_info_bytes");
    std::memcpy(slot.bigchunk_info, info.data(), info.size());
    const RegionInfo& r = bc->region;
    *slot.bigchunk_meta = BigChunkMeta{r.x, r.y, r.level, m.rows, m.cols, m.channels(), r.downsample,
                                       std::uint32_t(info.size())};
    return kExitOk;
  } catch (const std::exception& e) {
    slot.error.write(std::string("BigChunkLoader failed (") + who(v) + ", BigChunk " + std::to_string(number) + "): " + e.what());
    return kExitFailed;
  }
}

// Forks the loader for BigChunk `number` and waits for it. Returns kExitOk when the BigChunk
// is in the slot, kStoppedWhileLoading, or the collector's exit status (error text written).
int load_bigchunk(const VisitSpec& v, const CollectorEnv& env, std::uint32_t number) {
  CollectorSlot& slot = *env.slot;
  const auto t0 = std::chrono::steady_clock::now();
  ChildSetup setup;
  setup.cores = env.options->core_assignment().bigchunkloaders;
  const pid_t pid = spawn_child(setup, [&] { return run_loader(v, env, number); });
  slot.counters->loader_pid.store(pid);
  const int pidfd = open_pidfd(pid);
  int status = 0;
  const int timeout_ms = int(env.options->bigchunk_timeout() * 1000);
  const bool exited = wait_child(pid, pidfd, timeout_ms, &status, &g_stop);
  if (!exited) {
    kill(pid, SIGKILL);
    wait_child(pid, pidfd, -1, &status);
  }
  if (pidfd >= 0) close(pidfd);
  slot.counters->loader_pid.store(0);
  if (!exited && g_stop) return kStoppedWhileLoading;  // swapped out while loading: not an error
  if (!exited) {
    slot.error.write("BigChunkLoader timed out after " + std::to_string(env.options->bigchunk_timeout()) + " s (" + who(v) +
                     ", BigChunk " + std::to_string(number) + ") and was killed");
    return kExitFailed;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitOk) {
    slot.counters->bigchunks_loaded.fetch_add(1);
    slot.counters->bigchunk_read_ns.fetch_add(std::uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
    return kExitOk;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitFinished) return kExitFinished;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kExitFailed) return kExitFailed;  // it wrote why
  slot.error.write("BigChunkLoader " + describe_status(status) + " (" + who(v) + ", BigChunk " + std::to_string(number) + ")");
  return kExitFailed;
}

}  // namespace

int run_collector(const VisitSpec& v, const CollectorEnv& env) {
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;  // no SA_RESTART: a blocked wait returns and sees g_stop
  sigaction(SIGTERM, &sa, nullptr);
  CollectorSlot& slot = *env.slot;
  const Options& o = *env.options;
  TaskContext ctx;
  ctx.patient = &v.patient;
  ctx.options = env.options;
  ctx.visit = v.visit;
  ctx.role = 2;
  ctx.checkpoint = v.checkpoint;
  ctx.checkpoint_out = &slot.checkpoint;
  ctx.status_out = &slot.status;
  ctx.log_fd = env.log_fd;
  const PatchShape& shape = o.patch_shape();
  try {
    std::unique_ptr<SmallChunkCollector> collector = (*env.make_collector)();
    TaskAccess::attach(*collector, &ctx);
    for (std::uint32_t number = 0; !g_stop; ++number) {
      const int loaded = load_bigchunk(v, env, number);
      if (loaded != kExitOk) return loaded == kStoppedWhileLoading ? kExitOk : loaded;
      const BigChunkMeta meta = *slot.bigchunk_meta;
      BigChunk bc;
      bc.data = cv::Mat(meta.height, meta.width, CV_8UC(meta.channels), slot.bigchunk_pixels);
      bc.region = {meta.x, meta.y, meta.level, meta.width, meta.height, meta.downsample};
      if (meta.info_len > 0) {
        bc.info = nlohmann::json::parse(slot.bigchunk_info, slot.bigchunk_info + meta.info_len);
      }
      bc.patient = &v.patient;
      bc.number = number;
      ctx.bigchunk_number = number;
      for (std::uint64_t call = 0; !g_stop; ++call) {
        Extraction e = collector->extract_smallchunk(call, bc, v.message);
        if (e.kind() == Extraction::Kind::Done) break;
        if (e.kind() == Extraction::Kind::Skip) continue;
        SmallChunk& c = e.chunk();
        if (o.transform()) {
          Rng rng({o.seed(), std::uint64_t(v.patient.int_uniqueid), v.visit, number, call, 3});
          c.data = o.transform()(c.data, rng);
        }
        if (c.data.rows != shape.height || c.data.cols != shape.width || c.data.channels() != shape.channels ||
            c.data.depth() != CV_8U) {
          throw Error("SmallChunk of " + std::to_string(c.data.rows) + " x " + std::to_string(c.data.cols) + " x " +
                      std::to_string(c.data.channels()) + " does not match Options::patch_shape " +
                      std::to_string(shape.height) + " x " + std::to_string(shape.width) + " x " + std::to_string(shape.channels));
        }
        const std::string info = c.info.is_null() ? "" : c.info.dump();
        if (info.size() > o.max_smallchunk_info_bytes()) throw Error("SmallChunk info exceeds Options::max_smallchunk_info_bytes");
        std::uint8_t* s = slot.ring.wait_for_free_slot(&g_stop);
        if (!s) break;
        SlotHeader& h = *reinterpret_cast<SlotHeader*>(s);
        h = SlotHeader{v.patient.int_uniqueid, v.visit, number, call, c.x, c.y, c.level, shape.height, shape.width,
                       shape.channels, meta.x, meta.y, meta.level, meta.height, meta.width, std::uint32_t(info.size()),
                       shape.bytes()};
        std::memcpy(Ring::info(s), info.data(), info.size());
        cv::Mat dst(shape.height, shape.width, CV_8UC(shape.channels), slot.ring.data(s));
        c.data.copyTo(dst);
        slot.ring.publish();
      }
    }
    return kExitOk;
  } catch (const std::exception& e) {
    slot.error.write("SmallChunkCollector failed (" + who(v) + "): " + e.what());
    return kExitFailed;
  }
}

}  // namespace pydmed::detail
