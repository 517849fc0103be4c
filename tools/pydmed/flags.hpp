#pragma once
// Validators for pydmed's flags. CLI11's own take "-1" for an unsigned flag (strtoull wraps it)
// and describe ranges with a 300-digit maximum; these parse strictly and say, in the user's
// terms, what the flag takes: "--collectors: must be an integer from 1 to 1024 (got 0)".
#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>

namespace pydmed::cli {

// Integers in [lo, hi], written in decimal.
CLI::Validator integer(std::int64_t lo, std::int64_t hi = std::numeric_limits<std::int64_t>::max());
// Non-negative integers up to 2^64 - 1 (seeds).
CLI::Validator unsigned_integer();
// Finite numbers > 0 (seconds).
CLI::Validator positive_number();
// Microns per pixel a microscope gives (pydmed::plausible_mpp), and magnifications whose 10/X is one.
CLI::Validator mpp_value();
CLI::Validator magnification_value();
// Numbers in [0, 1].
CLI::Validator fraction();

}  // namespace pydmed::cli
