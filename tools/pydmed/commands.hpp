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
    const std::string what = e.what(), prefix = "option memory_budget_bytes: ";
    throw UsageError(flags + ": " + (what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what) +
                     " (half the machine's memory)");
  }
}

using Runner = std::function<int()>;
Runner add_info(CLI::App& app);
Runner add_read(CLI::App& app);
Runner add_make_sample_slides(CLI::App& app);
Runner add_stream(CLI::App& app);
Runner add_sliding_window(CLI::App& app);
Runner add_tissue(CLI::App& app);
// Adds its flags to `app` itself (pydmed-embed's only command).
Runner add_embed(CLI::App* app);

}  // namespace pydmed::cli
