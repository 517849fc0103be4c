// pydmed: look at slides, cut regions, make sample slides, from the shell.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "interrupt.hpp"
#include "remote_flags.hpp"
#include "run_cli.hpp"

namespace {
// `pydmed embed ...` is the pydmed-embed executable beside this one (it loads LibTorch; the
// other commands do not).
int exec_embed(int argc, char** argv) {
#if !PYDMED_WITH_EMBED
  (void)argc, (void)argv;
  std::cerr << "pydmed: embed: this pydmed was built without LibTorch (-DPYDMED_WITH_TORCH=OFF)\n";
  return 1;
#endif
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
  const pydmed::cli::Command commands[] = {
      pydmed::cli::add_info(app),   pydmed::cli::add_read(app),           pydmed::cli::add_make_sample_slides(app),
      pydmed::cli::add_stream(app), pydmed::cli::add_sliding_window(app), pydmed::cli::add_tissue(app),
      pydmed::cli::add_dicomize(app)};
  pydmed::cli::RemoteFlags remote;
  for (const auto& c : commands)
    if (c.app->get_name() != "make-sample-slides") pydmed::cli::add_remote_flags(*c.app, remote);
  // Listed for --help; run by exec_embed above.
  app.add_subcommand("embed", "Embed every tissue window with a TorchScript model into one HDF5 file per slide");
  return pydmed::cli::run_cli(app, argc, argv, [&]() -> pydmed::cli::Runner {
    for (const auto& c : commands)
      if (c.app->parsed()) return pydmed::cli::with_remote_flags(remote, c.run);
    return nullptr;
  });
}
