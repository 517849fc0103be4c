#include "pydmed/engine/user_code.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "engine/task_context.hpp"
#include "pydmed/error.hpp"

namespace pydmed {

namespace detail {
void write_log_line(int fd, const std::string& who, const std::string& line) {
  if (fd < 0) return;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%.3f", std::chrono::duration<double>(now).count());
  std::string s = std::string(stamp) + " [" + who + " pid " + std::to_string(getpid()) + "] " + line + "\n";
  [[maybe_unused]] auto n = ::write(fd, s.data(), s.size());
}
}  // namespace detail

const Patient& PatientTask::patient() const { return *ctx_->patient; }
const Options& PatientTask::options() const { return *ctx_->options; }
std::uint32_t PatientTask::visit() const { return ctx_->visit; }
std::uint32_t PatientTask::bigchunk_number() const { return ctx_->bigchunk_number; }
const nlohmann::json& PatientTask::get_checkpoint() const { return ctx_->checkpoint; }

void PatientTask::log(const std::string& line) const {
  detail::write_log_line(ctx_->log_fd, "patient " + std::to_string(ctx_->patient->int_uniqueid), line);
}

Rng PatientTask::random_stream(std::uint64_t call_count) const { return random_stream_ahead(0, call_count); }

Rng PatientTask::random_stream_ahead(std::uint32_t ahead, std::uint64_t call_count) const {
  return Rng({ctx_->options->seed(), std::uint64_t(ctx_->patient->int_uniqueid), ctx_->visit,
              std::uint64_t(ctx_->bigchunk_number) + ahead, call_count, std::uint64_t(ctx_->role)});
}

cv::Mat BigChunkLoader::allocate(int height, int width, int channels) {
  const std::size_t bytes = std::size_t(height) * std::size_t(width) * std::size_t(channels);
  if (height <= 0 || width <= 0 || channels <= 0 || channels > 4) {
    throw Error("BigChunkLoader::allocate: bad shape " + std::to_string(height) + " x " + std::to_string(width) +
                " x " + std::to_string(channels));
  }
  if (bytes > context().bigchunk_capacity) {
    throw Error("BigChunk of " + std::to_string(bytes) + " bytes exceeds Options::max_bigchunk_bytes (" +
                std::to_string(context().bigchunk_capacity) + ")");
  }
  return cv::Mat(height, width, CV_8UC(channels), context().bigchunk_memory);
}

void SmallChunkCollector::set_checkpoint(const nlohmann::json& checkpoint) {
  std::string s = checkpoint.dump();
  if (s.size() > context().checkpoint_out->capacity()) {
    throw Error("checkpoint of " + std::to_string(s.size()) + " bytes exceeds Options::max_checkpoint_bytes (" +
                std::to_string(context().checkpoint_out->capacity()) + ")");
  }
  context().pending_checkpoint = std::move(s);
  context().checkpoint = checkpoint;
}

void SmallChunkCollector::set_status(const nlohmann::json& status) {
  const std::string s = status.dump();
  if (!context().status_out->write(s)) {
    throw Error("status of " + std::to_string(s.size()) + " bytes exceeds Options::max_status_bytes");
  }
}

}  // namespace pydmed
