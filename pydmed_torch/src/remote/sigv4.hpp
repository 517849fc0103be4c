#pragma once
// Private: AWS Signature Version 4 for S3 GET/HEAD requests (header form), over OpenSSL. The
// payload of these requests is empty, so its hash is the empty string's; the Range header is
// left unsigned, as S3 allows.
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "remote/url.hpp"

namespace pydmed::remote {

struct Credentials {
  std::string access_key, secret_key, session_token, region;
};

// From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_REGION (else
// AWS_DEFAULT_REGION, else us-east-1); nullopt without a key pair (requests go unsigned).
std::optional<Credentials> credentials_from_env();

// The headers ("Name: value") that sign `method` of `t` at `now` (UTC).
std::vector<std::string> sign(const Credentials& c, const std::string& method, const Target& t, std::time_t now);

}  // namespace pydmed::remote
