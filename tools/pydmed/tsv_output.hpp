#pragma once
// A command's TSV: a plain file (or standard output), or with --state FILE one committed
// together with the loader's state (ResumableRun: a resumed run cuts it back to the last
// commit). Either way the header is written on a fresh start.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pydmed/output_file.hpp"
#include "pydmed/extensions/resumable_run.hpp"

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

// The command's one output ("out") of its ResumableRun: the loader attached to run() is
// committed with it.
class TsvOutput {
 public:
  // `state` "": plain. Else resumable; `run` (the arguments that shape the output) must match a
  // state that exists.
  TsvOutput(const std::string& out, const StateFlags& state, const nlohmann::json& run, const std::string& header)
      : run_(state.path, run, state.every), out_(run_.output("out", out, header)) {}
  ResumableRun& run() { return run_; }
  // The progress the last run committed: null on a fresh start or a plain file.
  const nlohmann::json& saved() const { return run_.progress(); }
  void write(std::string_view line) { out_.write(line); }
  // Commits `progress()` when --state-every seconds have passed since the last commit.
  void maybe_commit(const std::function<nlohmann::json()>& progress) {
    if (run_.resumable() && run_.due()) run_.commit(progress());
  }
  void close(const std::function<nlohmann::json()>& progress) { run_.close(progress()); }

 private:
  ResumableRun run_;
  OutputFile& out_;
};

}  // namespace pydmed::cli
