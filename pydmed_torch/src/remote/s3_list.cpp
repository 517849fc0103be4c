#include "remote/s3_list.hpp"

#include "pydmed/error.hpp"
#include "remote/http.hpp"
#include "remote/url.hpp"

namespace pydmed::remote {
namespace {

std::string unescape_xml(std::string s) {
  static const std::pair<const char*, char> kEntities[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'},
                                                           {"&apos;", '\''}, {"&amp;", '&'}};
  for (const auto& [entity, c] : kEntities) {
    const std::string e = entity;
    for (std::size_t at = s.find(e); at != std::string::npos; at = s.find(e, at + 1)) s.replace(at, e.size(), 1, c);
  }
  return s;
}

// Each <tag>...</tag> inside `within`, in order.
std::vector<std::string> fields(const std::string& xml, const std::string& tag) {
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

}  // namespace

std::vector<std::pair<std::string, std::uint64_t>> list_objects(const std::string& prefix) {
  const std::string bucket = prefix.substr(5, prefix.find('/', 5) - 5);
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::string token;
  for (int page = 0; page < 100000; ++page) {
    const std::string xml = get_text(list_target(prefix, token));
    if (xml.find("<ListBucketResult") == std::string::npos)
      throw SlideError(prefix, "the store's listing is not a ListObjectsV2 result");
    for (const std::string& c : fields(xml, "Contents")) {
      const auto key = fields(c, "Key"), size = fields(c, "Size");
      if (key.empty()) continue;
      out.emplace_back("s3://" + bucket + "/" + unescape_xml(key[0]),
                       size.empty() ? 0 : std::strtoull(size[0].c_str(), nullptr, 10));
    }
    const auto truncated = fields(xml, "IsTruncated"), next = fields(xml, "NextContinuationToken");
    if (truncated.empty() || truncated[0] != "true" || next.empty()) return out;
    token = unescape_xml(next[0]);
  }
  return out;
}

}  // namespace pydmed::remote
