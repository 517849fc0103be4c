// pydmed: look at slides, cut regions, make sample slides, from the shell.
#include <iostream>
#include <map>

#include "commands.hpp"
#include "pydmed/error.hpp"

namespace pydmed::cli {
std::ostream& output_to(const std::string& path, std::ofstream& file) {
  if (path.empty()) return std::cout;
  file.open(path);
  if (!file) throw Error(path + ": cannot write the output file");
  return file;
}
}  // namespace pydmed::cli

int main(int argc, char** argv) {
  CLI::App app{"pydmed: whole-slide images for LibTorch training loops"};
  app.require_subcommand(1);
  std::map<CLI::App*, pydmed::cli::Runner> runners;
  auto add = [&](pydmed::cli::Runner (*make)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    auto run = make(app);
    runners[app.get_subcommands({})[before]] = std::move(run);
  };
  add(pydmed::cli::add_info);
  add(pydmed::cli::add_read);
  add(pydmed::cli::add_make_sample_slides);
  add(pydmed::cli::add_stream);
  add(pydmed::cli::add_sliding_window);
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const std::exception& e) {
    std::cerr << "pydmed: " << e.what() << '\n';  // one line, naming the file and the reason
    return 1;
  }
  return 2;
}
