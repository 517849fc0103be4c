#include "pydmed/extensions/resumable_run.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/engine/light_dl_core.hpp"
#include "pydmed/file_identity.hpp"

namespace pydmed {

namespace {
constexpr const char* kFormat = "pydmed-run-state";
// RunStateFile::kVersion's history: 2, the tissue mask's background floor (other windows); 3, one
// layout for every command's state (issue 23).

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

nlohmann::json RunStateFile::load(const std::string& path, const nlohmann::json& run) {
  refuse_folder(path);
  if (!std::filesystem::exists(path)) return nullptr;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw Error(path + ": cannot read the run's state");
  const auto s = nlohmann::json::parse(text.str(), nullptr, false);
  const bool ours = s.is_object() && s.contains("format") && s["format"].is_string() &&
                    s["format"].get<std::string>().rfind("pydmed-", 0) == 0;
  if (!ours) throw Error(path + ": not a pydmed run state (no \"format\": \"" + kFormat + "\")");
  if (s.value("version", 0) != kVersion) {
    const nlohmann::json version = s.value("version", nlohmann::json(0));
    throw Error(path + ": saved by another pydmed (state version " + version.dump() + ", this one reads " +
                std::to_string(kVersion) + (version == 2 ? "; its layout was another" : ", whose rules chose other windows or patches") +
                "): start again with a new --state");
  }
  if (s.value("format", "") != kFormat) throw Error(path + ": not a pydmed run state (no \"format\": \"" + kFormat + "\")");
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
  if (!s.contains("outputs") || !s["outputs"].is_object()) throw Error(path + ": not a pydmed run state (no \"outputs\")");
  for (const auto& [name, bytes] : s["outputs"].items())
    if (!bytes.is_number_unsigned()) throw Error(path + ": not a pydmed run state (outputs[" + name + "] is not a size)");
  return s;
}

RunLock RunStateFile::lock(const std::string& path) {
  refuse_folder(path);
  return RunLock::beside(path);
}

void RunStateFile::save(const std::string& path, const nlohmann::json& run, const nlohmann::json& fields) {
  nlohmann::json s = {{"format", kFormat}, {"version", kVersion}, {"run", run}};
  s.update(fields);
  OutputFile f(path, OutputFile::Mode::Atomic);
  f.write(s.dump());
  f.write("\n");
  f.close();
}

namespace {
// Checked and locked before any output is touched: a state that cannot be written (a missing
// folder, a read-only one) or that another run holds leaves the outputs as they were.
RunLock lock_state(const std::string& state_path) {
  return state_path.empty() ? RunLock() : RunStateFile::lock(state_path);
}
}  // namespace

ResumableRun::ResumableRun(std::string state_path, nlohmann::json run, double every)
    : state_path_(std::move(state_path)),
      run_(std::move(run)),
      every_(every),
      lock_(lock_state(state_path_)),
      saved_(state_path_.empty() ? nlohmann::json() : RunStateFile::load(state_path_, run_)) {
  begin();
}

ResumableRun::ResumableRun(std::string state_path, const RunLock& held, nlohmann::json run, double every)
    : state_path_(std::move(state_path)),
      run_(std::move(run)),
      every_(every),
      saved_(state_path_.empty() ? nlohmann::json() : RunStateFile::load(state_path_, run_)) {
  if (resumable() && !held.held()) throw Error(state_path_ + ": the run's state is not locked");
  begin();
}

void ResumableRun::begin() {
  if (resumed()) {
    progress_ = saved_.value("progress", nlohmann::json());
    if (!progress_.is_object()) progress_ = nlohmann::json::object();
    const nlohmann::json loader = saved_.value("loader", nlohmann::json());
    try {
      if (!loader.is_null()) saved_loader_ = LoaderState::from_json(loader);
    } catch (const Error& e) {
      throw Error(state_path_ + ": " + e.what());
    }
  }
  last_commit_s_ = now_s();
}

ResumableRun::~ResumableRun() = default;

std::uint64_t ResumableRun::committed(const std::string& name) const {
  if (!resumed()) return 0;
  return saved_["outputs"].value(name, std::uint64_t(0));
}

OutputFile& ResumableRun::output(const std::string& name, const std::string& path, std::string_view header,
                                 bool text) {
  if (auto it = outputs_.find(name); it != outputs_.end()) return *it->second;
  if (resumable() && same_file(path, state_path_)) throw Error(state_path_ + ": the state file cannot be an output too");
  const bool goes_on = resumed() && saved_["outputs"].contains(name);
  auto f = goes_on ? std::make_unique<OutputFile>(path, committed(name)) : std::make_unique<OutputFile>(path);
  if (text) f->keep_whole_lines();
  if (!goes_on) f->write(header);
  OutputFile& out = *f;
  outputs_[name] = std::move(f);
  closed_.erase(name);
  return out;
}

void ResumableRun::close_output(const std::string& name) {
  auto it = outputs_.find(name);
  if (it != outputs_.end()) {
    it->second->close();
    outputs_.erase(it);
  }
  closed_.insert(name);
}

void ResumableRun::remove_output(const std::string& name) {
  auto it = outputs_.find(name);
  if (it == outputs_.end()) return;
  const std::string path = it->second->name();
  outputs_.erase(it);
  std::error_code ec;
  std::filesystem::remove(path, ec);
  closed_.insert(name);
}

void ResumableRun::attach(LightDLCore& loader, Delivery delivery) {
  loader_ = &loader;
  if (delivery == Delivery::Windows) track_windows();
  if (saved_loader_) loader.restore(*saved_loader_);
}

void ResumableRun::track_windows() {
  if (!windows_) windows_ = saved_loader_ ? WindowProgress(*saved_loader_) : WindowProgress();
}

void ResumableRun::delivered(const ChunkRecord& record) {
  if (windows_) windows_->delivered(record);
}
void ResumableRun::delivered(std::int64_t patient, const WindowPosition& window) {
  if (windows_) windows_->delivered(patient, window);
}

void ResumableRun::commit(const nlohmann::json& progress) {
  progress_ = progress;
  last_commit_s_ = now_s();
  if (!resumable()) return;
  nlohmann::json outputs = nlohmann::json::object();
  if (resumed()) {  // outputs of the saved state not opened again (yet): their committed bytes stand
    for (const auto& [name, bytes] : saved_["outputs"].items())
      if (!closed_.count(name)) outputs[name] = bytes;
  }
  for (auto& [name, f] : outputs_) {
    f->sync();  // first the outputs, then the state that claims them
    outputs[name] = f->size();
  }
  nlohmann::json loader = saved_loader_ ? saved_loader_->to_json() : nlohmann::json();  // before attach()
  if (loader_) {
    LoaderState s = windows_ ? windows_->resume(*loader_) : loader_->loader_state();
    for (std::int64_t id : finished_) s.mark_finished(id);
    loader = s.to_json();
  }
  RunStateFile::save(state_path_, run_, {{"loader", loader}, {"outputs", outputs}, {"progress", progress}});
}

bool ResumableRun::due() const { return now_s() - last_commit_s_ >= every_; }

void ResumableRun::close(const nlohmann::json& progress) {
  commit(progress);
  for (auto& [name, f] : outputs_) f->close();
}

}  // namespace pydmed
