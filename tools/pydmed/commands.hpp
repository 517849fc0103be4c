#pragma once
// Each subcommand of `pydmed` registers itself on the app and returns its runner.
#include <CLI/CLI.hpp>
#include <functional>
#include <stdexcept>
#include <string>

#include "pydmed/error.hpp"

namespace pydmed::cli {

// Flags that cannot work together (exit status 2, as for a flag CLI11 refuses).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Builds a loader; when its memory is refused, the message names the flags that sized it (as
// the user typed them), not the option inside.
template <class Make>
auto admit(Make make, const std::string& flags) {
  try {
    return make();
  } catch (const OptionsError& e) {
    if (e.option() != "memory_budget_bytes") throw;
    throw UsageError(flags + ": " + e.reason() + " (half the machine's memory)");
  }
}

using Runner = std::function<int()>;
// A subcommand registered on the app, and what runs it once parsed.
struct Command {
  CLI::App* app;
  Runner run;
};
Command add_info(CLI::App& app);
Command add_read(CLI::App& app);
Command add_make_sample_slides(CLI::App& app);
Command add_stream(CLI::App& app);
Command add_sliding_window(CLI::App& app);
Command add_tissue(CLI::App& app);
Command add_dicomize(CLI::App& app);
// Adds its flags to `app` itself (pydmed-embed's only command).
Runner add_embed(CLI::App* app);

}  // namespace pydmed::cli
