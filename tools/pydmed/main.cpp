// pydmed: look at slides, cut regions, make sample slides, from the shell.
#include <iostream>
#include <map>

#include "commands.hpp"
#include "interrupt.hpp"
#include "pydmed/error.hpp"

int main(int argc, char** argv) {
  pydmed::cli::Interrupt::install();  // first: every later thread inherits its signal mask
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
  add(pydmed::cli::add_tissue);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "pydmed: " << e.what() << " (see --help)\n";  // one line, naming the flag as typed
    return 2;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const pydmed::cli::UsageError& e) {
    std::cerr << "pydmed: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pydmed: " << e.what() << '\n';  // one line, naming the file and the reason
    return 1;
  }
  return 2;
}
