#include "remote_flags.hpp"

#include "pydmed/slide/remote.hpp"

namespace pydmed::cli {

void add_remote_flags(CLI::App& app, RemoteFlags& flags) {
  app.add_option("--cache", flags.cache,
                 "Folder for the bytes of slides read by URL, shared by the run's processes and later runs")
      ->group("Slides by URL");
  app.add_option("--cache-size", flags.cache_size, "Most bytes the --cache folder holds (K, M, G suffixes; 20G)")
      ->check(CLI::Validator(
          [](std::string& v) {
            try {
              parse_byte_size("--cache-size", v);
              return std::string();
            } catch (const OptionsError& e) {
              return e.reason();
            }
          },
          "BYTES"))
      ->group("Slides by URL");
}

Runner with_remote_flags(const RemoteFlags& flags, Runner run) {
  return [&flags, run] {
    if (!flags.cache.empty() || !flags.cache_size.empty()) {
      RemoteOptions o = remote_options();
      if (!flags.cache.empty()) o.cache_dir(flags.cache);
      if (!flags.cache_size.empty()) o.cache_bytes(parse_byte_size("--cache-size", flags.cache_size));
      if (o.cache_dir().empty()) throw UsageError("--cache-size: needs --cache");
      set_remote_options(o);
    }
    return run();
  };
}

}  // namespace pydmed::cli
