// pydmed-embed: `pydmed embed`, in its own executable (it loads LibTorch).
#include "commands.hpp"
#include "interrupt.hpp"
#include "remote_flags.hpp"
#include "run_cli.hpp"

int main(int argc, char** argv) {
  pydmed::cli::Interrupt::install();  // first: every later thread inherits its signal mask
  CLI::App app{"pydmed embed: every tissue window through a TorchScript model, one HDF5 feature file per slide"};
  app.name("pydmed embed");
  pydmed::cli::RemoteFlags remote;
  pydmed::cli::add_remote_flags(app, remote);
  const pydmed::cli::Runner run = pydmed::cli::with_remote_flags(remote, pydmed::cli::add_embed(&app));
  return pydmed::cli::run_cli(app, argc, argv, [&] { return run; });
}
