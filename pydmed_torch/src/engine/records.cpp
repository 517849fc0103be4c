#include "pydmed/engine/records.hpp"

#include <nlohmann/json.hpp>

namespace pydmed {

std::string ChunkRecord::roi() const {
  if (info_json.empty()) return "";
  const auto j = nlohmann::json::parse(info_json, nullptr, false);
  return j.is_object() && j.contains("roi") && j["roi"].is_string() ? j["roi"].get<std::string>() : "";
}

}  // namespace pydmed
