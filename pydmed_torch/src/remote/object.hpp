#pragma once
// Private: a remote object as opened: where it is requested, its size and version. `key` names
// its bytes in the caches: the URL without its signature's query parameters, the version and the
// size, hashed, so a changed object is a new key and a presigned URL's new signature is not.
#include <cstdint>
#include <memory>
#include <string>

#include "remote/url.hpp"

namespace pydmed::remote {

struct RemoteObject {
  Target target;
  std::uint64_t size = 0;
  std::string etag;     // the ETag, sent as If-Match with every range; "" when the store gave none
  std::string version;  // the ETag, else Last-Modified, else "" (then no disk cache: nothing checks it)
  std::string key;      // 64 hex digits
  std::uint64_t id = 0; // the key's first 16
};

// Opens `url`: one request for its first bytes, which also says its size and ETag (and which
// the block cache keeps, as the readers start there). Once per URL per process tree (forked
// children inherit what their parent opened). Throws SlideError naming the URL.
std::shared_ptr<const RemoteObject> open_object(const std::string& url);

}  // namespace pydmed::remote
