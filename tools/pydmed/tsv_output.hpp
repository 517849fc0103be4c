#pragma once
// A command's TSV: a plain file (or standard output), or with --state FILE one committed
// together with the loader's state (ResumableOutput: a resumed run cuts it back to the last
// commit). Either way the header is written on a fresh start.
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pydmed/output_file.hpp"
#include "pydmed/resumable_output.hpp"

namespace pydmed::cli {

// --state FILE and --state-every S: how a command's run resumes.
struct StateFlags {
  std::string path;
  double every = 1.0;
  // `what`: the help of --state, saying what a resumed run does.
  CLI::Option* add_to(CLI::App* sub, const std::string& what);
  // --state writes beside a file, not to standard output.
  void check_out(const std::string& out) const;
};

class TsvOutput {
 public:
  // `state` "": plain. Else resumable; `run` (the arguments that shape the output) must match a
  // state that exists.
  TsvOutput(const std::string& out, const StateFlags& state, const nlohmann::json& run, const std::string& header)
      : every_(state.every) {
    if (state.path.empty()) {
      plain_.emplace(out);
      plain_->keep_whole_lines();
      plain_->write(header);
    } else {
      resumable_.emplace(out, state.path, run, header);
    }
  }
  // The progress the last run committed: null on a fresh start or a plain file.
  nlohmann::json saved() const { return resumable_ ? resumable_->progress() : nlohmann::json(); }
  void write(std::string_view line) { resumable_ ? resumable_->write(line) : plain_->write(line); }
  // Commits `progress()` when --state-every seconds have passed since the last commit.
  void maybe_commit(const std::function<nlohmann::json()>& progress) {
    if (resumable_ && resumable_->due(every_)) resumable_->commit(progress());
  }
  void close(const std::function<nlohmann::json()>& progress) {
    if (resumable_) resumable_->close(progress());
    if (plain_) plain_->close();
  }

 private:
  double every_;
  std::optional<ResumableOutput> resumable_;
  std::optional<OutputFile> plain_;
};

}  // namespace pydmed::cli
