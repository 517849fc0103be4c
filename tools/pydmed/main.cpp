// pydmed: look at slides, cut regions, make sample slides, from the shell.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "interrupt.hpp"
#include "run_cli.hpp"

namespace {
// `pydmed embed ...` is the pydmed-embed executable beside this one (it loads LibTorch; the
// other commands do not).
int exec_embed(int argc, char** argv) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string embed = (ec ? std::filesystem::path(argv[0]) : self).parent_path() / "pydmed-embed";
  std::vector<char*> args{const_cast<char*>(embed.c_str())};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(embed.c_str(), args.data());
  std::cerr << "pydmed: embed: cannot run " << embed << ": " << std::strerror(errno) << '\n';
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "embed") return exec_embed(argc, argv);
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
  // Listed for --help; run by exec_embed above.
  app.add_subcommand("embed", "Embed every tissue window with a TorchScript model into one HDF5 file per slide");
  return pydmed::cli::run_cli(app, argc, argv, [&]() -> pydmed::cli::Runner {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run;
    return nullptr;
  });
}
