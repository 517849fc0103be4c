#pragma once
// One TSV line from its fields (numbers and text), newline included.
#include <string>
#include <type_traits>

namespace pydmed::cli {

namespace detail {
inline void append(std::string& line, const std::string& s) { line += s; }
inline void append(std::string& line, const char* s) { line += s; }
template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
void append(std::string& line, T v) {
  line += std::to_string(v);
}
}  // namespace detail

template <class First, class... Rest>
std::string tsv_line(const First& first, const Rest&... rest) {
  std::string line;
  detail::append(line, first);
  ((line += '\t', detail::append(line, rest)), ...);
  line += '\n';
  return line;
}

}  // namespace pydmed::cli
