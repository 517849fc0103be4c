#pragma once
// Each subcommand of `pydmed` registers itself on the app and returns its runner.
#include <CLI/CLI.hpp>
#include <fstream>
#include <functional>
#include <string>

namespace pydmed::cli {

// `path`, opened into `file`, or standard output when empty; throws Error naming it.
std::ostream& output_to(const std::string& path, std::ofstream& file);

using Runner = std::function<int()>;
Runner add_info(CLI::App& app);
Runner add_read(CLI::App& app);
Runner add_make_sample_slides(CLI::App& app);
Runner add_stream(CLI::App& app);
Runner add_sliding_window(CLI::App& app);

}  // namespace pydmed::cli
