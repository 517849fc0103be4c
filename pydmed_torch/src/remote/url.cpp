#include "remote/url.hpp"

#include <cctype>
#include <cstdlib>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"

namespace pydmed {

namespace {
bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
}  // namespace

bool is_url(const std::string& path) {
  return starts_with(path, "http://") || starts_with(path, "https://") || starts_with(path, "s3://");
}

std::string redact_url(const std::string& url) {
  if (!is_url(url)) return url;
  const auto scheme_end = url.find("://") + 3;
  std::string out = url.substr(0, url.find_first_of("?#"));
  const auto slash = out.find('/', scheme_end), at = out.rfind('@', slash);
  if (at != std::string::npos && at >= scheme_end) out.erase(scheme_end, at + 1 - scheme_end);
  return out;
}

std::string url_file_name(const std::string& url) {
  const std::string r = redact_url(url);
  const std::string seg = r.substr(r.rfind('/') + 1);
  std::string out;
  for (std::size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == '%' && i + 2 < seg.size() && std::isxdigit(static_cast<unsigned char>(seg[i + 1])) && std::isxdigit(static_cast<unsigned char>(seg[i + 2]))) {
      out += char(std::stoi(seg.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += seg[i];
    }
  }
  return out;
}

namespace remote {

std::string env_text(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string aws_region() {
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (std::string r = env_text(name); !r.empty()) return r;
  return "us-east-1";
}

std::string uri_encode(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

namespace {

// scheme://[userinfo@]host[:port]/path?query, split.
Target split(const std::string& url, const std::string& name) {
  Target t;
  t.name = name;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) throw SlideError(name, "not a URL");
  const auto rest = scheme_end + 3;
  const auto path_at = url.find_first_of("/?#", rest);
  std::string authority = url.substr(rest, path_at == std::string::npos ? std::string::npos : path_at - rest);
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  if (authority.empty()) throw SlideError(name, "a URL without a host");
  t.host = authority;
  std::string tail = path_at == std::string::npos ? "/" : url.substr(path_at);
  if (const auto hash = tail.find('#'); hash != std::string::npos) tail.erase(hash);
  const auto q = tail.find('?');
  t.path = tail.substr(0, q);
  if (t.path.empty() || t.path[0] != '/') t.path = "/" + t.path;
  if (q != std::string::npos) t.query = tail.substr(q + 1);
  t.url = url.substr(0, url.find('#'));  // as given (user:password@ too, for curl), without a fragment
  return t;
}

// s3://bucket/key as an https (or endpoint) request, the key URI-encoded as S3 expects.
Target s3_target(const std::string& url, const std::string& query) {
  const std::string name = redact_url(url);
  const std::string rest = url.substr(5);
  const auto slash = rest.find('/');
  const std::string bucket = rest.substr(0, slash), key = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (bucket.empty()) throw SlideError(name, "an s3:// URL names a bucket: s3://bucket/key");
  std::string endpoint = env_text("AWS_ENDPOINT_URL");
  const std::string region = aws_region();
  std::string base;
  if (!endpoint.empty()) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    base = endpoint + "/" + uri_encode(bucket, false) + "/";
  } else if (bucket.find('.') == std::string::npos) {
    base = "https://" + bucket + ".s3." + region + ".amazonaws.com/";
  } else {  // a dotted bucket breaks the certificate's wildcard: path-style
    base = "https://s3." + region + ".amazonaws.com/" + uri_encode(bucket, false) + "/";
  }
  Target t = split(base + uri_encode(key, true) + (query.empty() ? "" : "?" + query), name);
  t.s3 = true;
  return t;
}

}  // namespace

Target resolve(const std::string& url) {
  if (url.rfind("s3://", 0) == 0) {
    if (url.find_first_of("?#") != std::string::npos)
      throw SlideError(url, "an s3:// URL takes no query string");
    return s3_target(url, "");
  }
  return split(url, redact_url(url));
}

Target list_target(const std::string& s3_prefix_url, const std::string& token) {
  const std::string rest = s3_prefix_url.substr(5);
  const auto slash = rest.find('/');
  const std::string bucket = rest.substr(0, slash), prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  // Parameters in SigV4's canonical order (sorted by name), each value encoded.
  std::string query;
  if (!token.empty()) query += "continuation-token=" + uri_encode(token, false) + "&";
  query += "list-type=2&prefix=" + uri_encode(prefix, false);
  return s3_target("s3://" + bucket + "/", query);
}

}  // namespace remote
}  // namespace pydmed
