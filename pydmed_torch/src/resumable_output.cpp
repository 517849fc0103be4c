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

namespace {
// What two runs' arguments differ in, for a message: "kernel: 64 then, 32 now; slides: changed".
std::string differences(const nlohmann::json& then, const nlohmann::json& now) {
  if (!then.is_object() || !now.is_object()) return "not the same kind of run";
  std::string out;
  auto add = [&](const std::string& key) {
    const nlohmann::json a = then.value(key, nlohmann::json()), b = now.value(key, nlohmann::json());
    if (a == b) return;
    out += (out.empty() ? "" : "; ") + key + ": ";
    out += a.is_structured() || b.is_structured() ? std::string("changed") : a.dump() + " then, " + b.dump() + " now";
  };
  for (const auto& [key, v] : now.items()) add(key);
  for (const auto& [key, v] : then.items())
    if (!now.contains(key)) add(key);
  return out;
}
}  // namespace

nlohmann::json RunStateFile::load(const std::string& path, const std::string& format, const nlohmann::json& run) {
  if (!std::filesystem::exists(path)) return nullptr;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw Error(path + ": cannot read the run's state");
  const auto s = nlohmann::json::parse(text.str(), nullptr, false);
  if (!s.is_object() || s.value("format", "") != format) {
    throw Error(path + ": not a pydmed run state (no \"format\": \"" + format + "\")");
  }
  const nlohmann::json then = s.value("run", nlohmann::json());
  if (then != run) {
    throw Error(path + ": was saved by a run with other arguments (" + differences(then, run) +
                "): use another --state file or the same arguments");
  }
  return s;
}

void RunStateFile::save(const std::string& path, const std::string& format, const nlohmann::json& run,
                        const nlohmann::json& fields) {
  nlohmann::json s = {{"format", format}, {"version", 1}, {"run", run}};
  s.update(fields);
  OutputFile f(path, OutputFile::Mode::Atomic);
  f.write(s.dump());
  f.write("\n");
  f.close();
}

namespace {
// The state ResumableOutput resumes from (null: a fresh start).
nlohmann::json load_resumable(const std::string& out_path, const std::string& state_path, const nlohmann::json& run) {
  std::error_code ec;
  if (out_path == state_path || std::filesystem::equivalent(out_path, state_path, ec)) {
    throw Error(state_path + ": the state file cannot be the output file too");
  }
  nlohmann::json s = RunStateFile::load(state_path, kFormat, run);
  if (!s.is_null() && !(s.contains("out_bytes") && s["out_bytes"].is_number_unsigned())) {
    throw Error(state_path + ": not a pydmed run state (no \"out_bytes\")");
  }
  return s;
}
}  // namespace

ResumableOutput::ResumableOutput(const std::string& out_path, const std::string& state_path, const nlohmann::json& run,
                                 std::string_view header)
    : state_path_(state_path),
      run_(run),
      saved_(load_resumable(out_path, state_path, run)),
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
  RunStateFile::save(state_path_, kFormat, run_, {{"out_bytes", out_.size()}, {"progress", progress}});
  progress_ = progress;
  last_commit_s_ = now_s();
}

bool ResumableOutput::due(double seconds) const { return now_s() - last_commit_s_ >= seconds; }

void ResumableOutput::close(const nlohmann::json& progress) {
  commit(progress);
  out_.close();
}

}  // namespace pydmed
