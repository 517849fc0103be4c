#include "remote/xml.hpp"

#include <utility>

namespace pydmed::remote {

std::string unescape_xml(std::string s) {
  static const std::pair<const char*, char> kEntities[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'},
                                                           {"&apos;", '\''}, {"&amp;", '&'}};
  for (const auto& [entity, c] : kEntities) {
    const std::string e = entity;
    for (std::size_t at = s.find(e); at != std::string::npos; at = s.find(e, at + 1)) s.replace(at, e.size(), 1, c);
  }
  return s;
}

std::vector<std::string> xml_elements(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (std::size_t at = xml.find(open); at != std::string::npos; at = xml.find(open, at)) {
    const std::size_t from = at + open.size(), to = xml.find(close, from);
    if (to == std::string::npos) break;
    out.push_back(xml.substr(from, to - from));
    at = to + close.size();
  }
  return out;
}

std::string xml_text(const std::string& xml, const std::string& tag) {
  const std::vector<std::string> all = xml_elements(xml, tag);
  return all.empty() ? "" : unescape_xml(all.front());
}

}  // namespace pydmed::remote
