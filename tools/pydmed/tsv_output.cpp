#include "tsv_output.hpp"

#include "commands.hpp"
#include "flags.hpp"

namespace pydmed::cli {

CLI::Option* StateFlags::add_to(CLI::App* sub, const std::string& what) {
  sub->add_option("--state-every", every,
                  "seconds between saves of --state (each syncs the output to disk; a stop redoes at most this much)")
      ->default_val(1.0)
      ->check(positive_number());
  return sub->add_option("--state", path, what);
}

void StateFlags::check_out(const std::string& out) const {
  if (!path.empty() && (out.empty() || out == "-")) throw UsageError("--state needs --out FILE");
}

}  // namespace pydmed::cli
