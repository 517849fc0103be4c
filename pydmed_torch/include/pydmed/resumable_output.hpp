#pragma once
// An output file and a state file committed together, so that a run stopped at any point
// (Ctrl-C, SIGKILL, a crash) and started again neither repeats nor loses a line. The output is
// written in place; each commit syncs it, then replaces the state (JSON, written beside it and
// renamed over it) with how many bytes of the output it covers and the caller's progress. A
// resumed run cuts the output back to those bytes, so what the state does not cover is redone.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pydmed/output_file.hpp"
#include "pydmed/run_lock.hpp"

namespace pydmed {

// A resumable run's state file: JSON with "format", "version" (2; another is refused) and "run" (the arguments that
// shape the output), replaced whole by an atomic rename. ResumableOutput keeps its own; a run
// with several outputs (FeatureExtractor: one file per slide) keeps one beside them.
struct RunStateFile {
  // The state saved at `path`, or null when there is none. Error naming the file when it is not
  // a `format` state, or when it was saved with another `run` (naming what differs).
  static nlohmann::json load(const std::string& path, const std::string& format, const nlohmann::json& run);
  // The state's lock (RunLock::beside), taken before anything is read or written: refuses a
  // folder, a folder it cannot be made in, and a state another run holds, each in one line.
  static RunLock lock(const std::string& path);
  // Writes {"format", "version", "run"} and `fields`, atomically.
  static void save(const std::string& path, const std::string& format, const nlohmann::json& run,
                   const nlohmann::json& fields);
};

class ResumableOutput {
 public:
  // When `state_path` exists, resumes: its run must equal `run` (the arguments that shape the
  // output), and `out_path` is continued after the committed bytes. Otherwise starts fresh:
  // `out_path` is created (or emptied), `header` written and committed with null progress.
  // Both files are locked for the run's life (a second run on either is refused), and nothing
  // is written to `out_path` before the state is known to be usable. Throws Error naming the
  // file and the reason.
  ResumableOutput(const std::string& out_path, const std::string& state_path, const nlohmann::json& run,
                  std::string_view header);

  bool resumed() const { return resumed_; }
  // The progress of the last commit (null before any on a fresh run).
  const nlohmann::json& progress() const { return progress_; }

  void write(std::string_view bytes) { out_.write(bytes); }
  // Makes what was written durable, then the state that covers it.
  void commit(const nlohmann::json& progress);
  // True once `seconds` have passed since the last commit: commit then, to bound what a crash
  // makes the resumed run redo without syncing on every line.
  bool due(double seconds = 1.0) const;
  // Commits and closes the output.
  void close(const nlohmann::json& progress);

  const std::string& out_name() const { return out_.name(); }

 private:
  std::string state_path_;
  nlohmann::json run_;
  RunLock lock_;          // STATE.lock, held for the run's life: one run per state
  nlohmann::json saved_;  // the state file's contents when resuming
  bool resumed_;
  OutputFile out_;
  nlohmann::json progress_;
  double last_commit_s_ = 0;
};

}  // namespace pydmed
