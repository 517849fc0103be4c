#pragma once
// A run that resumes: the loader it drives, the output files that loader's SmallChunks become,
// and one state file that commits them together, so that a run stopped at any point (Ctrl-C,
// SIGKILL, a crash) and started again neither repeats nor loses a line or a window. Outputs are
// written in place; each commit syncs them, then replaces the state (written beside it and
// renamed over it) with how many bytes of each output it covers, the loader's state and the
// caller's progress. A resumed run cuts every output back to those bytes and restores the
// loader, so what the state does not cover is redone.
//
// The state file, every command's and class's alike (RunStateFile::kVersion 3):
//   {"format": "pydmed-run-state", "version": 3, "run": {the arguments that shape the outputs},
//    "loader": LoaderState::to_json(), "outputs": {"<name>": committed bytes}, "progress": {...}}
// With state_path "" the same calls make a run that is not resumable: plain outputs, no state.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pydmed/engine/loader_state.hpp"
#include "pydmed/extensions/window_progress.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/run_lock.hpp"

namespace pydmed {

class LightDLCore;
struct ChunkRecord;

// The state file itself: checked, locked, read and replaced whole.
struct RunStateFile {
  static constexpr int kVersion = 3;  // raised when the rules that choose windows or patches, or the layout, change
  // The state saved at `path`, or null when there is none. Error naming the file when it is not
  // a pydmed run state, is of another version, or was saved with another `run` (naming what differs).
  static nlohmann::json load(const std::string& path, const nlohmann::json& run);
  // The state's lock (RunLock::beside), taken before anything is read or written: refuses a
  // folder, a folder it cannot be made in, and a state another run holds, each in one line.
  static RunLock lock(const std::string& path);
  // Writes {"format", "version", "run"} and `fields`, atomically.
  static void save(const std::string& path, const nlohmann::json& run, const nlohmann::json& fields);
};

class ResumableRun {
 public:
  // What the loader's deliveries mean on resume: Visits, a new visit for each loaded patient (a
  // random stream goes on); Windows, each window once (WindowProgress tracks what was delivered).
  enum class Delivery { Visits, Windows };

  // Locks `state_path` and reads it (Error in one line: see RunStateFile); `run` must equal the
  // saved run's. "" : not resumable. `every`: seconds between commits that due() asks for.
  ResumableRun(std::string state_path, nlohmann::json run, double every = 1.0);
  // The same, with the state's lock taken earlier and held by the caller for the run's life
  // (RunStateFile::lock: a run that checks its state before it knows its arguments).
  ResumableRun(std::string state_path, const RunLock& held, nlohmann::json run, double every = 1.0);
  ~ResumableRun();
  ResumableRun(const ResumableRun&) = delete;
  ResumableRun& operator=(const ResumableRun&) = delete;

  bool resumable() const { return !state_path_.empty(); }
  bool resumed() const { return !saved_.is_null(); }
  // The caller's progress at the last commit (an object when resumed; null: a fresh run).
  const nlohmann::json& progress() const { return progress_; }
  // The saved loader state, to adjust before attach() (none: a fresh run).
  std::optional<LoaderState>& saved_loader() { return saved_loader_; }

  // An output committed with the state, under `name`. A resumed run goes on after its committed
  // bytes (a name the state lacks: created); a fresh one creates (empties) it and writes
  // `header`. Text outputs keep whole lines (OutputFile::keep_whole_lines). The state file may
  // not be an output. A name already open: that output. Error naming the file.
  OutputFile& output(const std::string& name, const std::string& path, std::string_view header = {},
                     bool text = true);
  // Bytes of `name` the saved state covers (0: none).
  std::uint64_t committed(const std::string& name) const;
  bool has_output(const std::string& name) const { return outputs_.count(name) > 0; }
  // Closes `name` and forgets it (a spool made into its final file).
  void close_output(const std::string& name);
  // Forgets `name` and removes its file (what a run that cannot resume leaves no trace of).
  void remove_output(const std::string& name);

  // The loader whose state is committed: restored from the saved state now (before it starts).
  // Until it is attached, commits keep the saved loader state.
  void attach(LightDLCore& loader, Delivery delivery);
  // Delivery::Windows from now on (a consumer that learns from its first batch that these are
  // sliding windows, before it has delivered any).
  void track_windows();
  // Each delivered record, in order (Windows: its position; Visits: nothing to track).
  void delivered(const ChunkRecord& record);
  void delivered(std::int64_t patient, const WindowPosition& window);
  // Saved as finished whatever the loader says (a slide whose file is written).
  void keep_finished(std::int64_t patient) { finished_.insert(patient); }

  // Makes every output durable, then the state that covers them (resumable only).
  void commit(const nlohmann::json& progress);
  // True once `every` seconds have passed since the last commit.
  bool due() const;
  // Commits and closes every output (errors of a write that failed end here).
  void close(const nlohmann::json& progress);

 private:
  void begin();  // the saved progress and loader state

  std::string state_path_;
  nlohmann::json run_;
  double every_;
  RunLock lock_;          // STATE.lock, held for the run's life: one run per state
  nlohmann::json saved_;  // the state file's contents when resuming
  std::optional<LoaderState> saved_loader_;
  nlohmann::json progress_;
  std::map<std::string, std::unique_ptr<OutputFile>> outputs_;
  std::set<std::string> closed_;  // outputs closed this run: no longer in the state
  const LightDLCore* loader_ = nullptr;
  std::optional<WindowProgress> windows_;
  std::set<std::int64_t> finished_;
  double last_commit_s_ = 0;
};

}  // namespace pydmed
