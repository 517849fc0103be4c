#include "remote/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "pydmed/sha256.hpp"

namespace pydmed::remote {
namespace {

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += digits[c >> 4], out += digits[c & 15];
  return out;
}

// Query parameters sorted by name (then value), each already encoded by whoever built the URL.
std::string canonical_query(const std::string& query) {
  std::vector<std::string> parts;
  for (std::size_t at = 0; at <= query.size() && !query.empty();) {
    const auto amp = query.find('&', at);
    std::string p = query.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
    if (p.find('=') == std::string::npos) p += '=';
    if (!p.empty()) parts.push_back(p);
    if (amp == std::string::npos) break;
    at = amp + 1;
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "&") + p;
  return out;
}

}  // namespace

std::optional<Credentials> credentials_from_env() {
  Credentials c{env_text("AWS_ACCESS_KEY_ID"), env_text("AWS_SECRET_ACCESS_KEY"), env_text("AWS_SESSION_TOKEN"),
                aws_region()};
  if (c.access_key.empty() || c.secret_key.empty()) return std::nullopt;
  return c;
}

std::vector<std::string> sign(const Credentials& c, const std::string& method, const Target& t, std::time_t now) {
  char amz_date[17], date[9];
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
  std::strftime(date, sizeof date, "%Y%m%d", &tm);
  const std::string payload = sha256_hex("", 0);
  // Header names lowercase and sorted: host, x-amz-content-sha256, x-amz-date[, x-amz-security-token].
  std::string headers = "host:" + t.host + "\nx-amz-content-sha256:" + payload + "\nx-amz-date:" + amz_date + "\n";
  std::string signed_headers = "host;x-amz-content-sha256;x-amz-date";
  if (!c.session_token.empty()) {
    headers += "x-amz-security-token:" + c.session_token + "\n";
    signed_headers += ";x-amz-security-token";
  }
  const std::string request =
      method + "\n" + t.path + "\n" + canonical_query(t.query) + "\n" + headers + "\n" + signed_headers + "\n" + payload;
  const std::string scope = std::string(date) + "/" + c.region + "/s3/aws4_request";
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" + sha256_hex(request.data(), request.size());
  const std::string key = hmac(hmac(hmac(hmac("AWS4" + c.secret_key, date), c.region), "s3"), "aws4_request");
  std::vector<std::string> out = {
      "x-amz-date: " + std::string(amz_date), "x-amz-content-sha256: " + payload,
      "Authorization: AWS4-HMAC-SHA256 Credential=" + c.access_key + "/" + scope + ", SignedHeaders=" + signed_headers +
          ", Signature=" + hex(hmac(key, to_sign))};
  if (!c.session_token.empty()) out.push_back("x-amz-security-token: " + c.session_token);
  return out;
}

}  // namespace pydmed::remote
