#include "remote/s3_list.hpp"

#include "pydmed/error.hpp"
#include "remote/http.hpp"
#include "remote/url.hpp"
#include "remote/xml.hpp"

namespace pydmed::remote {
std::vector<std::pair<std::string, std::uint64_t>> list_objects(const std::string& prefix) {
  const std::string bucket = prefix.substr(5, prefix.find('/', 5) - 5);
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::string token;
  for (int page = 0; page < 100000; ++page) {
    const std::string xml = get_text(list_target(prefix, token));
    if (xml.find("<ListBucketResult") == std::string::npos)
      throw SlideError(prefix, "the store's listing is not a ListObjectsV2 result");
    for (const std::string& c : xml_elements(xml, "Contents")) {
      const auto key = xml_elements(c, "Key"), size = xml_elements(c, "Size");
      if (key.empty()) continue;
      out.emplace_back("s3://" + bucket + "/" + unescape_xml(key[0]),
                       size.empty() ? 0 : std::strtoull(size[0].c_str(), nullptr, 10));
    }
    const auto truncated = xml_elements(xml, "IsTruncated"), next = xml_elements(xml, "NextContinuationToken");
    if (truncated.empty() || truncated[0] != "true" || next.empty()) return out;
    token = unescape_xml(next[0]);
  }
  return out;
}

}  // namespace pydmed::remote
