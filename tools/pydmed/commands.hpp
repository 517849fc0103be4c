#pragma once
// Each subcommand of `pydmed` registers itself on the app and returns its runner.
#include <CLI/CLI.hpp>
#include <functional>
#include <stdexcept>
#include <string>

namespace pydmed::cli {

// Flags that cannot work together (exit status 2, as for a flag CLI11 refuses).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using Runner = std::function<int()>;
Runner add_info(CLI::App& app);
Runner add_read(CLI::App& app);
Runner add_make_sample_slides(CLI::App& app);
Runner add_stream(CLI::App& app);
Runner add_sliding_window(CLI::App& app);

}  // namespace pydmed::cli
