#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"

namespace pydmed {

// A URL is named without its query (a presigned signature) or user:password.
SlideError::SlideError(const std::string& path, const std::string& reason)
    : Error(redact_url(path) + ": " + reason), path_(redact_url(path)), reason_(reason) {}

namespace {
std::string where(const std::string& file, int line) {
  if (file.empty()) return "";
  return line > 0 ? file + ":" + std::to_string(line) + ": " : file + ": ";
}
}  // namespace

DatasetError::DatasetError(const std::string& file, int line, const std::string& reason)
    : Error(where(file, line) + reason), file_(file), line_(line) {}

void check_fraction(const std::string& option, double v) {
  if (!(v >= 0 && v <= 1)) throw OptionsError(option, "must be between 0 and 1, not " + std::to_string(v));
}

}  // namespace pydmed
