#include "data/csv.hpp"

#include <stdexcept>

namespace pydmed::csv {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"')
        fields.back() += c;
      else if (i + 1 < line.size() && line[i + 1] == '"')
        fields.back() += '"', ++i;
      else
        quoted = false;
    } else if (c == ',') {
      fields.emplace_back(), was_quoted = false;
    } else if (c == '"') {
      if (!fields.back().empty() || was_quoted) {
        throw std::invalid_argument("a quote inside an unquoted field (column " + std::to_string(fields.size()) + ")");
      }
      quoted = was_quoted = true;
    } else if (was_quoted) {
      throw std::invalid_argument("text after a closing quote (column " + std::to_string(fields.size()) + ")");
    } else {
      fields.back() += c;
    }
  }
  if (quoted) throw std::invalid_argument("a quoted field does not close on its line");
  return fields;
}

std::string quote(const std::string& f) {
  const bool needs =
      f.find_first_of(",\"\n\r") != std::string::npos || (!f.empty() && (f.front() == ' ' || f.back() == ' '));
  if (!needs) return f;
  std::string out = "\"";
  for (char c : f) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace pydmed::csv
