#include "engine/collector_process.hpp"
#include "engine/slot_codec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "engine/process.hpp"
#include "engine/task_context.hpp"
#include "pydmed/error.hpp"

namespace pydmed::detail {

namespace {

volatile std::sig_atomic_t g_stop = 0;  // set by SIGTERM: the root swaps this patient out
extern "C" void on_sigterm(int) { g_stop = 1; }
constexpr int kStoppedWhileLoading = -1;

// BigChunk::damaged into the shared meta; too many pieces become one covering the BigChunk.
void encode_damage(const std::vector<DamagedPiece>& pieces, int width, int height, DamageMeta& d) {
  d.count = 0;
  d.reason[0] = '\0';
  if (pieces.empty()) return;
  std::string reason = pieces.front().reason;
  if (pieces.size() > DamageMeta::kMaxPieces) {
    reason += " (" + std::to_string(pieces.size()) + " damaged pieces: the whole BigChunk is skipped)";
    d.count = 1;
    d.pieces[0][0] = 0, d.pieces[0][1] = 0, d.pieces[0][2] = width, d.pieces[0][3] = height;
  } else {
    for (const DamagedPiece& p : pieces) {
      std::int32_t* q = d.pieces[d.count++];
      q[0] = p.x, q[1] = p.y, q[2] = p.width, q[3] = p.height;
    }
  }
  const std::size_t n = std::min(reason.size(), DamageMeta::kReasonBytes - 1);
  std::memcpy(d.reason, reason.data(), n);
  d.reason[n] = '\0';
}

std::vector<DamagedPiece> decode_damage(const DamageMeta& d) {
  std::vector<DamagedPiece> out;
  for (std::uint32_t i = 0; i < d.count; ++i) {
    const std::int32_t* q = d.pieces[i];
    out.push_back({q[0], q[1], q[2], q[3], d.reason});
  }
  return out;
}

// A read that gave nothing: every pixel of the BigChunk is in a damaged piece.
bool wholly_damaged(const BigChunk& bc) {
  std::int64_t area = 0;  // pieces do not overlap (one per tile)
  for (const DamagedPiece& d : bc.damaged) area += std::int64_t(d.width) * d.height;
  return !bc.damaged.empty() && area >= std::int64_t(bc.data.cols) * bc.data.rows;
}

std::string who(const VisitSpec& v) {
  return "patient " + std::to_string(v.patient.int_uniqueid) + " visit " + std::to_string(v.visit);
}

TaskContext base_context(const VisitSpec& v, const CollectorEnv& env, StreamRole role) {
  TaskContext ctx;
  ctx.patient = &v.patient;
  ctx.options = env.options;
  ctx.visit = v.visit;
  ctx.role = role;
  ctx.checkpoint = v.checkpoint;
  ctx.log_fd = env.log_fd;
  return ctx;
}

// Runs in the BigChunkLoader process: one BigChunk into `area`, with the visit's loader object.
int load_one(BigChunkLoader& loader, TaskContext& ctx, const VisitSpec& v, const CollectorEnv& env,
             std::uint32_t number, const BigChunkArea& area) {
  ctx.bigchunk_number = number;
  ctx.bigchunk_memory = area.pixels;
  try {
    std::optional<BigChunk> bc = loader.extract_bigchunk(v.message);
    if (!bc) return kExitFinished;
    const cv::Mat& m = bc->data;
    if (m.empty() || m.depth() != CV_8U) throw Error("BigChunk data must be a non-empty 8-bit image");
    const std::size_t bytes = m.total() * m.elemSize();
    if (bytes > ctx.bigchunk_capacity) {
      throw InputError("BigChunk of " + std::to_string(bytes) + " bytes exceeds Options::max_bigchunk_bytes");
    }
    if (m.data != area.pixels) {  // not read into allocate()'s memory: copy it there
      cv::Mat dst(m.rows, m.cols, m.type(), area.pixels);
      m.copyTo(dst);
    }
    const std::string info = bc->info.is_null() || bc->info.empty() ? "" : bc->info.dump();
    if (info.size() > env.options->max_bigchunk_info_bytes())
      throw Error("BigChunk info exceeds Options::max_bigchunk_info_bytes");
    std::memcpy(area.info, info.data(), info.size());
    const RegionInfo& r = bc->region;
    BigChunkMeta& meta = *area.meta;
    meta.x = r.x, meta.y = r.y, meta.level = r.level;
    meta.height = m.rows, meta.width = m.cols, meta.channels = m.channels();
    meta.downsample = r.downsample;
    meta.info_len = std::uint32_t(info.size());
    encode_damage(bc->damaged, m.cols, m.rows, meta.damage);
    return kExitOk;
  } catch (const std::exception& e) {
    env.slot->report_failure(
        e, std::string("BigChunkLoader failed (") + who(v) + ", BigChunk " + std::to_string(number) + "): " + e.what());
    return kExitFailed;
  }
}

// The BigChunkLoader process of a visit: reads a BigChunk number from `requests`, loads it,
// answers its status on `answers`; ends at end of file or after a failure. Living for the
// whole visit (not one BigChunk, as in PyDmed) keeps the loader's open slides, tile cache and
// tissue mask, and saves a fork per BigChunk; a crash still takes only this process.
int serve_loads(const VisitSpec& v, const CollectorEnv& env, int requests, int answers) {
  TaskContext ctx = base_context(v, env, StreamRole::kBigChunkLoader);
  ctx.bigchunk_capacity = env.options->max_bigchunk_bytes();
  std::unique_ptr<BigChunkLoader> loader;
  try {
    loader = (*env.make_loader)();
  } catch (const std::exception& e) {
    env.slot->report_failure(e, std::string("BigChunkLoader could not be made (") + who(v) + "): " + e.what());
    return kExitFailed;
  }
  TaskAccess::attach(*loader, &ctx);
  std::uint32_t number;
  while (::read(requests, &number, sizeof number) == sizeof number) {
    const std::int32_t rc =
        load_one(*loader, ctx, v, env, number, env.slot->bigchunk[number % std::uint32_t(env.slot->bigchunk_areas)]);
    if (::write(answers, &rc, sizeof rc) != sizeof rc || rc != kExitOk) return rc;
  }
  return kExitOk;
}

// The collector's handle on its loader process.
class LoaderProcess {
 public:
  LoaderProcess(const VisitSpec& v, const CollectorEnv& env) : v_(v), env_(env) {
    int req[2], ans[2];
    if (pipe2(req, O_CLOEXEC) != 0 || pipe2(ans, O_CLOEXEC) != 0) throw Error("pipe failed");
    ChildSetup setup;
    setup.cores = env.options->core_assignment().bigchunkloaders;
    pid_ = spawn_child(setup, [&] {
      close(req[1]);
      close(ans[0]);
      return serve_loads(v, env, req[0], ans[1]);
    });
    close(req[0]);
    close(ans[1]);
    requests_ = req[1];
    answers_ = ans[0];
    pidfd_ = open_pidfd(pid_);
    env.slot->counters->loader_pid.store(pid_);
  }
  ~LoaderProcess() {
    close(requests_);
    close(answers_);
    if (pid_ != 0) {  // closed pipes end an idle loader; one mid-read is not waited for
      int status;
      kill(pid_, SIGKILL);
      wait_child(pid_, pidfd_, -1, &status);
    }
    if (pidfd_ >= 0) close(pidfd_);
    env_.slot->counters->loader_pid.store(0);
  }

  void request(std::uint32_t number) {
    number_ = number;
    started_ = std::chrono::steady_clock::now();
    [[maybe_unused]] auto n = ::write(requests_, &number, sizeof number);
  }

  // Waits for the answer to the last request. Returns kExitOk when the BigChunk is in place,
  // kStoppedWhileLoading, or the collector's exit status (with the error text written).
  int wait() {
    CollectorSlot& slot = *env_.slot;
    const auto deadline = started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                         std::chrono::duration<double>(env_.options->bigchunk_timeout()));
    for (;;) {
      if (g_stop) return kStoppedWhileLoading;  // swapped out while loading: not an error
      const int left = ms_until(deadline);
      pollfd fds[2] = {{answers_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
      const int r = poll(fds, pidfd_ >= 0 ? 2 : 1, pidfd_ >= 0 ? left : std::min(left, 100));
      if (r < 0) continue;  // EINTR: look at g_stop again
      std::int32_t rc;
      if ((fds[0].revents & POLLIN) && ::read(answers_, &rc, sizeof rc) == sizeof rc) {
        if (rc == kExitOk) {
          slot.counters->bigchunks_loaded.fetch_add(1);
          slot.counters->bigchunk_read_ns.fetch_add(std::uint64_t(
              std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_)
                  .count()));
        }
        return rc;  // kExitFailed: the loader wrote why
      }
      int status = 0;
      if (fds[0].revents || fds[1].revents || (pidfd_ < 0 && waitpid(pid_, &status, WNOHANG) == pid_)) {
        // Gone without an answer: crashed or killed.
        if (pid_ != 0 && status == 0) wait_child(pid_, pidfd_, -1, &status);
        pid_ = 0;
        slot.error.write("BigChunkLoader " + describe_status(status) + " (" + who(v_) + ", BigChunk " +
                         std::to_string(number_) + ")");
        return kExitFailed;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        slot.error.write("BigChunkLoader timed out after " + std::to_string(env_.options->bigchunk_timeout()) + " s (" +
                         who(v_) + ", BigChunk " + std::to_string(number_) + ") and was killed");
        return kExitFailed;  // the destructor kills it
      }
    }
  }

 private:
  const VisitSpec& v_;
  const CollectorEnv& env_;
  pid_t pid_ = 0;
  int pidfd_ = -1, requests_ = -1, answers_ = -1;
  std::uint32_t number_ = 0;
  std::chrono::steady_clock::time_point started_;
};

BigChunk view_of(const BigChunkArea& area, const VisitSpec& v, std::uint32_t number) {
  const BigChunkMeta& meta = *area.meta;
  BigChunk bc;
  bc.data = cv::Mat(meta.height, meta.width, CV_8UC(meta.channels), area.pixels);
  bc.region = {meta.x, meta.y, meta.level, meta.width, meta.height, meta.downsample};
  if (meta.info_len > 0) bc.info = nlohmann::json::parse(area.info, area.info + meta.info_len);
  bc.patient = &v.patient;
  bc.number = number;
  bc.damaged = decode_damage(meta.damage);
  return bc;
}

// Reads that came back wholly damaged, over the patient's visits: while most of its reads fail
// (4 at least) each visit ends as a failure, so the patient is set aside after
// Options::max_failures; a few damaged tiles never do that.
class ReadTally {
 public:
  ReadTally(const VisitSpec& v, SlotCounters& counters)
      : reads_(v.reads_before), failed_(v.failed_before), counters_(counters) {}
  void add(const BigChunk& bc) {
    ++reads_;
    if (!wholly_damaged(bc)) return;
    ++failed_;
    counters_.bigchunks_failed.fetch_add(1);
    if (reason_.empty()) reason_ = bc.damaged.front().reason;
    if (reads_ >= 4 && 2 * failed_ > reads_) {
      throw Error("most BigChunk reads failed (" + std::to_string(failed_) + " of " + std::to_string(reads_) +
                  "): " + reason_);
    }
  }

 private:
  std::uint64_t reads_, failed_;
  SlotCounters& counters_;
  std::string reason_;
};

}  // namespace

int run_collector(const VisitSpec& v, const CollectorEnv& env) {
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;  // no SA_RESTART: a blocked wait returns and sees g_stop
  sigaction(SIGTERM, &sa, nullptr);
  CollectorSlot& slot = *env.slot;
  const Options& o = *env.options;
  TaskContext ctx = base_context(v, env, StreamRole::kCollector);
  ctx.checkpoint_out = &slot.checkpoint;
  ctx.status_out = &slot.status;
  const PatchShape& shape = o.patch_shape();
  try {
    std::unique_ptr<SmallChunkCollector> collector = (*env.make_collector)();
    TaskAccess::attach(*collector, &ctx);
    LoaderProcess loader(v, env);
    ReadTally tally(v, *slot.counters);
    loader.request(0);
    for (std::uint32_t number = 0; !g_stop; ++number) {
      const int loaded = loader.wait();
      if (loaded != kExitOk) return loaded == kStoppedWhileLoading ? kExitOk : loaded;
      const BigChunk bc = view_of(slot.bigchunk[number % std::uint32_t(slot.bigchunk_areas)], v, number);
      tally.add(bc);
      // The next BigChunk goes to the other area while this one is served.
      if (slot.bigchunk_areas == 2) loader.request(number + 1);
      ctx.bigchunk_number = number;
      for (std::uint64_t call = 0; !g_stop; ++call) {
        Extraction e = collector->extract_smallchunk(call, bc, v.message);
        const SlotOrigin origin{v.patient.int_uniqueid, v.visit, number, call, &bc};
        if (e.report()) {  // through the ring, in order, so that it reaches the root exactly once
          SkippedRegion r = *e.report();
          r.reason.resize(std::min(r.reason.size(), o.max_smallchunk_info_bytes()));
          if (!push_report(slot.ring, &g_stop, origin, r)) break;
          slot.counters->reports.fetch_add(1);  // after: the root never sees more reports than slots
        }
        if (e.kind() != Extraction::Kind::Chunk) {
          ctx.commit_checkpoint();
          if (e.kind() == Extraction::Kind::Done) break;
          continue;
        }
        SmallChunk& c = e.chunk();
        if (o.transform()) {
          Rng rng({o.seed(), std::uint64_t(v.patient.int_uniqueid), v.visit, number, call,
                   std::uint64_t(StreamRole::kTransform)});
          c.data = o.transform()(c.data, rng);
        }
        if (c.data.rows != shape.height || c.data.cols != shape.width || c.data.channels() != shape.channels ||
            c.data.depth() != CV_8U) {
          throw Error("SmallChunk of " + std::to_string(c.data.rows) + " x " + std::to_string(c.data.cols) + " x " +
                      std::to_string(c.data.channels()) + " does not match Options::patch_shape " +
                      std::to_string(shape.height) + " x " + std::to_string(shape.width) + " x " +
                      std::to_string(shape.channels));
        }
        const std::string info = c.info.is_null() ? "" : c.info.dump();
        if (info.size() > o.max_smallchunk_info_bytes())
          throw Error("SmallChunk info exceeds Options::max_smallchunk_info_bytes");
        if (!push_chunk(slot.ring, &g_stop, origin, c, shape, info)) break;
        ctx.commit_checkpoint();
      }
      if (slot.bigchunk_areas == 1 && !g_stop) loader.request(number + 1);
    }
    return kExitOk;
  } catch (const std::exception& e) {
    slot.report_failure(e, "SmallChunkCollector failed (" + who(v) + "): " + e.what());
    return kExitFailed;
  }
}

}  // namespace pydmed::detail
