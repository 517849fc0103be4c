#pragma once
// Private: the CSV dialect of manifests (RFC 4180 fields on one line: commas, double quotes,
// "" inside quotes). A quoted field that does not close on its line is an error.
#include <string>
#include <vector>

namespace pydmed::csv {

// Splits one line into fields; throws std::invalid_argument with the reason on bad quoting.
std::vector<std::string> split(const std::string& line);
// One field, quoted when it holds a comma, a quote or surrounding spaces.
std::string quote(const std::string& field);

}  // namespace pydmed::csv
