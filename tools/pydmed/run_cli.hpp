#pragma once
// Parses the command line and runs the chosen command, with the exit statuses every pydmed
// command keeps: 2 and one line naming the flag for a usage error, 1 and one line naming the
// file and the reason for any other error, else the command's own.
#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace pydmed::cli {

// `choose` runs after parsing and returns the runner of the command given.
int run_cli(CLI::App& app, int argc, char** argv, const std::function<Runner()>& choose);

}  // namespace pydmed::cli
