#pragma once
// --cache DIR and --cache-size BYTES, on every command that opens slides: where slides read by
// URL keep their bytes between the processes of a run and between runs.
#include <CLI/CLI.hpp>
#include <string>

#include "commands.hpp"

namespace pydmed::cli {

struct RemoteFlags {
  std::string cache, cache_size;
};

void add_remote_flags(CLI::App& app, RemoteFlags& flags);
// The command's runner, with the flags applied first (so bad values fail before any work).
Runner with_remote_flags(const RemoteFlags& flags, Runner run);

}  // namespace pydmed::cli
