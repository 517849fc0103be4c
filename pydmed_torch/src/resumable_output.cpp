#include "pydmed/resumable_output.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/file_identity.hpp"

namespace pydmed {

namespace {
constexpr const char* kFormat = "pydmed-resumable-output";
// Raised whenever a rule that decides which windows or patches exist changes (2: the tissue
// mask's background floor), so that a state from before is refused, not applied to other windows.
constexpr int kStateVersion = 2;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

namespace {
// What two runs' arguments differ in, for a message: "kernel: 64 then, 32 now; slide_files[a.tiff]:
// ... then, ... now". Objects are compared key by key, so that a changed slide is named.
void add_differences(const std::string& where, const nlohmann::json& then, const nlohmann::json& now, int depth,
                     std::vector<std::string>* out) {
  if (then == now) return;
  if (depth < 2 && then.is_object() && now.is_object()) {
    for (const auto& [key, v] : now.items())
      add_differences(where.empty() ? key : where + "[" + key + "]", then.value(key, nlohmann::json()), v, depth + 1,
                      out);
    for (const auto& [key, v] : then.items())
      if (!now.contains(key))
        add_differences(where.empty() ? key : where + "[" + key + "]", v, nullptr, depth + 1, out);
    return;
  }
  auto text = [](const nlohmann::json& j) { return j.is_null() ? std::string("absent") : j.dump(); };
  out->push_back(where + ": " + text(then) + " then, " + text(now) + " now");
}

std::string differences(const nlohmann::json& then, const nlohmann::json& now) {
  if (!then.is_object() || !now.is_object()) return "not the same kind of run";
  std::vector<std::string> all;
  add_differences("", then, now, 0, &all);
  std::string out;
  for (std::size_t i = 0; i < all.size() && i < 3; ++i) out += (i ? "; " : "") + all[i];
  if (all.size() > 3) out += "; and " + std::to_string(all.size() - 3) + " more";
  return out;
}

void refuse_folder(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a folder; a run's state is a file");
}
}  // namespace

nlohmann::json RunStateFile::load(const std::string& path, const std::string& format, const nlohmann::json& run) {
  refuse_folder(path);
  if (!std::filesystem::exists(path)) return nullptr;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw Error(path + ": cannot read the run's state");
  const auto s = nlohmann::json::parse(text.str(), nullptr, false);
  if (!s.is_object() || s.value("format", "") != format) {
    throw Error(path + ": not a pydmed run state (no \"format\": \"" + format + "\")");
  }
  if (s.value("version", 0) != kStateVersion) {
    throw Error(path + ": saved by another pydmed (state version " + s.value("version", nlohmann::json(0)).dump() +
                ", this one reads " + std::to_string(kStateVersion) +
                "), whose rules chose other windows or patches: start again with a new --state");
  }
  const nlohmann::json then = s.value("run", nlohmann::json());
  // A slide replaced between stops: named on its own, the one difference that is not an argument.
  const nlohmann::json stamps_then = then.value("slide_files", nlohmann::json::object()),
                       stamps_now = run.value("slide_files", nlohmann::json::object());
  for (const auto& [file, stamp] : stamps_now.items()) {
    if (stamps_then.contains(file) && stamps_then[file] != stamp) {
      throw Error(file + ": changed since the run's state " + path + " was saved (" +
                  stamps_then[file].get<std::string>() + " then, " + stamp.get<std::string>() +
                  " now); a resumed run would mix two slides: start again with a new --state");
    }
  }
  if (then != run) {
    throw Error(path + ": was saved by a run with other arguments (" + differences(then, run) +
                "): use another --state file or the same arguments");
  }
  return s;
}

RunLock RunStateFile::lock(const std::string& path) {
  refuse_folder(path);
  return RunLock::beside(path);
}

void RunStateFile::save(const std::string& path, const std::string& format, const nlohmann::json& run,
                        const nlohmann::json& fields) {
  nlohmann::json s = {{"format", format}, {"version", kStateVersion}, {"run", run}};
  s.update(fields);
  OutputFile f(path, OutputFile::Mode::Atomic);
  f.write(s.dump());
  f.write("\n");
  f.close();
}

namespace {
// Checked and locked before the output is touched: a state that cannot be written (a missing
// folder, a read-only one), that is the output, or that another run holds leaves the output as
// it was.
RunLock lock_state(const std::string& out_path, const std::string& state_path) {
  if (same_file(out_path, state_path)) throw Error(state_path + ": the state file cannot be the output file too");
  return RunStateFile::lock(state_path);
}

// The state ResumableOutput resumes from (null: a fresh start).
nlohmann::json load_resumable(const std::string& state_path, const nlohmann::json& run) {
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
      lock_(lock_state(out_path, state_path)),
      saved_(load_resumable(state_path, run)),
      resumed_(!saved_.is_null()),
      out_(resumed_ ? OutputFile(out_path, saved_["out_bytes"].get<std::uint64_t>()) : OutputFile(out_path)) {
  out_.keep_whole_lines();
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
