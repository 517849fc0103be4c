#include "pydmed/resumable_output.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pydmed/error.hpp"

namespace pydmed {

namespace {
constexpr const char* kFormat = "pydmed-resumable-output";

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

nlohmann::json ResumableOutput::load(const std::string& out_path, const std::string& state_path,
                                     const nlohmann::json& run) {
  std::error_code ec;
  if (out_path == state_path || std::filesystem::equivalent(out_path, state_path, ec)) {
    throw Error(state_path + ": the state file cannot be the output file too");
  }
  if (!std::filesystem::exists(state_path)) return nullptr;
  std::ifstream in(state_path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw Error(state_path + ": cannot read the run's state");
  const auto s = nlohmann::json::parse(text.str(), nullptr, false);
  if (!s.is_object() || s.value("format", "") != kFormat || !s.contains("out_bytes") ||
      !s["out_bytes"].is_number_unsigned()) {
    throw Error(state_path + ": not a pydmed run state (no \"format\": \"" + std::string(kFormat) + "\")");
  }
  if (s.value("run", nlohmann::json()) != run) {
    throw Error(state_path + ": was saved by a run with other arguments (" + s.value("run", nlohmann::json()).dump() +
                "; now " + run.dump() + "): use another --state file or the same arguments");
  }
  return s;
}

ResumableOutput::ResumableOutput(const std::string& out_path, const std::string& state_path, const nlohmann::json& run,
                                 std::string_view header)
    : state_path_(state_path),
      run_(run),
      saved_(load(out_path, state_path, run)),
      resumed_(!saved_.is_null()),
      out_(resumed_ ? OutputFile(out_path, saved_["out_bytes"].get<std::uint64_t>()) : OutputFile(out_path)) {
  if (resumed_) {
    progress_ = saved_.value("progress", nlohmann::json());
  } else {
    out_.write(header);
    commit(nullptr);
  }
  last_commit_s_ = now_s();
}

void ResumableOutput::commit(const nlohmann::json& progress) {
  out_.sync();  // first the output, then the state that claims it
  const nlohmann::json s = {
      {"format", kFormat}, {"version", 1}, {"run", run_}, {"out_bytes", out_.size()}, {"progress", progress}};
  OutputFile f(state_path_, OutputFile::Mode::Atomic);
  f.write(s.dump());
  f.write("\n");
  f.close();
  progress_ = progress;
  last_commit_s_ = now_s();
}

bool ResumableOutput::due(double seconds) const { return now_s() - last_commit_s_ >= seconds; }

void ResumableOutput::close(const nlohmann::json& progress) {
  commit(progress);
  out_.close();
}

}  // namespace pydmed
