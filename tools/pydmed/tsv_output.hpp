#pragma once
// A command's TSV: a plain file (or standard output), or with --state FILE one committed
// together with the loader's state (ResumableOutput: a resumed run cuts it back to the last
// commit). Either way the header is written on a fresh start.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pydmed/output_file.hpp"
#include "pydmed/resumable_output.hpp"

namespace pydmed::cli {

class TsvOutput {
 public:
  // `state` "": plain. Else resumable; `run` (the arguments that shape the output) must match a
  // state that exists.
  TsvOutput(const std::string& out, const std::string& state, const nlohmann::json& run, const std::string& header) {
    if (state.empty()) {
      plain_.emplace(out);
      plain_->write(header);
    } else {
      resumable_.emplace(out, state, run, header);
    }
  }
  // The progress the last run committed: null on a fresh start or a plain file.
  nlohmann::json saved() const { return resumable_ ? resumable_->progress() : nlohmann::json(); }
  void write(std::string_view line) { resumable_ ? resumable_->write(line) : plain_->write(line); }
  // Commits `progress()` when `every` seconds have passed since the last commit.
  void maybe_commit(double every, const std::function<nlohmann::json()>& progress) {
    if (resumable_ && resumable_->due(every)) resumable_->commit(progress());
  }
  void close(const std::function<nlohmann::json()>& progress) {
    if (resumable_) resumable_->close(progress());
    if (plain_) plain_->close();
  }

 private:
  std::optional<ResumableOutput> resumable_;
  std::optional<OutputFile> plain_;
};

}  // namespace pydmed::cli
