#include "run_cli.hpp"

#include <iostream>

namespace pydmed::cli {

int run_cli(CLI::App& app, int argc, char** argv, const std::function<Runner()>& choose) {
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
    const Runner run = choose();
    return run ? run() : 2;
  } catch (const UsageError& e) {
    std::cerr << "pydmed: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pydmed: " << e.what() << '\n';  // one line, naming the file and the reason
    return 1;
  }
}

}  // namespace pydmed::cli
