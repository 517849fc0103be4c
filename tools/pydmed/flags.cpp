#include "flags.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "pydmed/slide/physical.hpp"

namespace pydmed::cli {

namespace {
template <class T>
std::string check_integer(const std::string& s, T lo, T hi, const std::string& what) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return "must be " + what + " (got " + s + ", out of range)";
  if (ec != std::errc() || end != s.data() + s.size()) return "must be " + what + " (got '" + s + "')";
  if (v < lo || v > hi) return "must be " + what + " (got " + s + ")";
  return "";
}

// A decimal number for which `ok` holds.
template <class Ok>
CLI::Validator number(const std::string& what, Ok ok) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size() || !ok(v)) return "must be " + what + " (got '" + s + "')";
        return "";
      },
      what);
}
}  // namespace

CLI::Validator integer(std::int64_t lo, std::int64_t hi) {
  const std::string what = hi == std::numeric_limits<std::int64_t>::max()
                               ? "an integer >= " + std::to_string(lo)
                               : "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator([=](std::string& s) { return check_integer<std::int64_t>(s, lo, hi, what); }, what);
}

CLI::Validator unsigned_integer() {
  const std::string what = "an integer from 0 to 18446744073709551615";
  return CLI::Validator(
      [=](std::string& s) {
        return check_integer<std::uint64_t>(s, 0, std::numeric_limits<std::uint64_t>::max(), what);
      },
      "an integer >= 0");
}

CLI::Validator positive_number() {
  return number("a number > 0", [](double v) { return std::isfinite(v) && v > 0; });
}

CLI::Validator mpp_value() {
  return number(plausible_mpp_text(), [](double v) { return plausible_mpp(v); });
}

CLI::Validator magnification_value() {
  return number("a magnification from " + mpp_string(10 / kMaxMpp) + " to " + mpp_string(10 / kMinMpp),
                [](double v) { return v > 0 && plausible_mpp(mpp_of_magnification(v)); });
}

CLI::Validator fraction() {
  return number("a number from 0 to 1", [](double v) { return v >= 0 && v <= 1; });
}

}  // namespace pydmed::cli
