#pragma once
// Private: what a slide URL is requested as. s3://bucket/key becomes an https request to AWS
// (virtual-hosted) or a path-style request to AWS_ENDPOINT_URL; http(s) URLs are requested as
// given.
#include <string>

namespace pydmed::remote {

struct Target {
  std::string url;    // what is requested, query included
  std::string host;   // host[:port] as sent in Host (SigV4 signs it)
  std::string path;   // URI-encoded, from the first '/'
  std::string query;  // without '?', "" for none
  bool s3 = false;    // an s3:// URL: signed when there are credentials
  std::string name;   // redact_url of what the user gave, for messages
};

// Throws SlideError naming the URL when it is malformed.
Target resolve(const std::string& url);
// The same bucket's ListObjectsV2 page for `prefix` after `token` ("" for the first).
Target list_target(const std::string& s3_prefix_url, const std::string& token);
// An environment variable's value, "" when unset.
std::string env_text(const char* name);
// AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
std::string aws_region();
// RFC 3986 unreserved characters kept, every other byte %XX (SigV4's UriEncode).
std::string uri_encode(const std::string& s, bool keep_slash);

}  // namespace pydmed::remote
