#pragma once
// The code points a user overrides, as in PyDmed: a BigChunkLoader reads one BigChunk, a
// SmallChunkCollector cuts SmallChunks out of it. Both run in child processes (never touch
// LibTorch or CUDA there), see their patient and the options, and share the patient's
// checkpoint, status and log.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "pydmed/engine/chunks.hpp"
#include "pydmed/engine/options.hpp"
#include "pydmed/random.hpp"

namespace pydmed {

namespace detail {
struct TaskContext;
struct TaskAccess;
}  // namespace detail

class PatientTask {
 public:
  virtual ~PatientTask() = default;
  const Patient& patient() const;
  const Options& options() const;
  // How many earlier visits this patient had (0 on the first).
  std::uint32_t visit() const;
  // The number of the BigChunk being loaded or served in this visit: 0, 1, ...
  std::uint32_t bigchunk_number() const;
  // The patient's checkpoint: the last value set_checkpoint stored, in this visit or an
  // earlier one; null when never set.
  const nlohmann::json& get_checkpoint() const;
  // A line in the loader's log file, prefixed with the patient and the process.
  void log(const std::string& line) const;
  // A random stream keyed by (seed, patient, visit, BigChunk number, call_count): the same on
  // every run with the same seed, whatever the timing.
  Rng random_stream(std::uint64_t call_count = 0) const;
  // The stream random_stream(call_count) will be for the BigChunk `ahead` after this one in
  // this visit: a loader that draws where it reads can tell where it will read next (and have
  // a remote slide's tiles fetched ahead).
  Rng random_stream_ahead(std::uint32_t ahead, std::uint64_t call_count = 0) const;

 protected:
  detail::TaskContext& context() const { return *ctx_; }

 private:
  friend struct detail::TaskAccess;
  detail::TaskContext* ctx_ = nullptr;
};

class BigChunkLoader : public PatientTask {
 public:
  // The next BigChunk of this visit, or nullopt when the patient has no more (for good: the
  // patient is then finished, as in sliding-window inference).
  virtual std::optional<BigChunk> extract_bigchunk(const nlohmann::json& last_message) = 0;

 protected:
  // Memory for the BigChunk's pixels (H x W x C uint8) that the collector reads without a copy.
  // Throws Error when it exceeds Options::max_bigchunk_bytes.
  cv::Mat allocate(int height, int width, int channels = 3);
};

class SmallChunkCollector : public PatientTask {
 public:
  // Called with call_count 0, 1, ... for each BigChunk; returns a SmallChunk,
  // Extraction::skip() or Extraction::done() (load the next BigChunk).
  virtual Extraction extract_smallchunk(std::uint64_t call_count, const BigChunk& bigchunk,
                                        const nlohmann::json& last_message) = 0;

 protected:
  // Kept by the root across visits; survives a crash of this process. Takes effect when this
  // call's SmallChunk is in the ring (at once for skip and done): a checkpoint describes what
  // was delivered, never a SmallChunk lost to a swap. Throws Error when its JSON exceeds
  // Options::max_checkpoint_bytes.
  void set_checkpoint(const nlohmann::json& checkpoint);
  // Read by the root (LightDLCore::get_status) while the patient is loaded and after.
  void set_status(const nlohmann::json& status);
};

// How a loader makes the user code of each visit: a fresh object per child process.
using LoaderFactory = std::function<std::unique_ptr<BigChunkLoader>()>;
using CollectorFactory = std::function<std::unique_ptr<SmallChunkCollector>()>;

}  // namespace pydmed
