#include "pydmed/error.hpp"

namespace pydmed {

SlideError::SlideError(const std::string& path, const std::string& reason)
    : Error(path + ": " + reason), path_(path), reason_(reason) {}

namespace {
std::string where(const std::string& file, int line) {
  if (file.empty()) return "";
  return line > 0 ? file + ":" + std::to_string(line) + ": " : file + ": ";
}
}  // namespace

DatasetError::DatasetError(const std::string& file, int line, const std::string& reason)
    : Error(where(file, line) + reason), file_(file), line_(line) {}

}  // namespace pydmed
