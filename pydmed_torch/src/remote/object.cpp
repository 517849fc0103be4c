#include "remote/object.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/sha256.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/block_cache.hpp"
#include "remote/http.hpp"
#include "remote/per_process.hpp"
#include "remote/s3_list.hpp"

namespace pydmed {

void check_remote(const std::string& url) { remote::open_object(url); }

std::string remote_stamp(const std::string& url) {
  try {
    if (url.back() == '/') {
      std::uint64_t bytes = 0;
      const auto objects = remote::list_objects(url);
      for (const auto& o : objects) bytes += o.second;
      return std::to_string(objects.size()) + " objects, " + std::to_string(bytes) + " bytes";
    }
    const auto o = remote::open_object(url);
    return std::to_string(o->size) + " bytes, version " + o->version;
  } catch (const SlideError&) {
    return "missing";
  }
}

}  // namespace pydmed

namespace pydmed::remote {
namespace {

// The URL without the query parameters that sign it (AWS, Google, Azure, CloudFront presigning):
// what names the object, where a new signature is the same object.
std::string unsigned_url(const std::string& url) {
  const auto q = url.find('?');
  if (q == std::string::npos) return url;
  static const char* const kSigning[] = {"x-amz-", "x-goog-", "signature", "expires", "awsaccesskeyid", "googleaccessid",
                                         "key-pair-id", "policy", "sig", "se", "sp", "sv", "st", "sr", "skoid",
                                         "sktid", "skt", "ske", "sks", "skv", "spr", "srt", "ss"};
  std::string kept;
  std::size_t at = q + 1;
  while (at <= url.size()) {
    const auto amp = url.find('&', at);
    const std::string p = url.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
    std::string name = p.substr(0, p.find('='));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    const bool signing = std::any_of(std::begin(kSigning), std::end(kSigning), [&](const char* s) {
      const std::string k = s;
      return k.back() == '-' ? name.rfind(k, 0) == 0 : name == k;
    });
    if (!signing && !p.empty()) kept += (kept.empty() ? "?" : "&") + p;
    if (amp == std::string::npos) break;
    at = amp + 1;
  }
  return url.substr(0, q) + kept;
}

}  // namespace

std::shared_ptr<const RemoteObject> open_object(const std::string& url) {
  struct Opened {
    std::mutex mu;  // guards map
    std::map<std::string, std::shared_ptr<const RemoteObject>> map;
    void before_fork() { mu.lock(); }
    void after_fork(bool) { mu.unlock(); }
  };
  Opened& opened = fork_aware<Opened>();
  {
    std::lock_guard<std::mutex> lock(opened.mu);
    if (auto it = opened.map.find(url); it != opened.map.end()) return it->second;
  }
  auto o = std::make_shared<RemoteObject>();
  o->target = resolve(url);
  // The first 64 KiB: the TIFF header and usually its first directory, DICOM's preamble and
  // meta group; the reply says the size and version too.
  std::vector<std::uint8_t> head(64 << 10);
  const Reply r = get_range(o->target, head.data(), head.size(), 0);
  if (r.total == 0) throw SlideError(o->target.name, "empty object (0 bytes)");
  o->size = r.total;
  o->etag = r.etag;
  o->version = !r.etag.empty() ? r.etag : r.last_modified;
  const std::string identity = unsigned_url(o->target.url) + "\n" + o->version + "\n" + std::to_string(o->size);
  o->key = sha256_hex(identity.data(), identity.size());
  o->id = std::stoull(o->key.substr(0, 16), nullptr, 16);
  BlockCache::here().insert(*o, 0, head.data(), std::min<std::size_t>(r.bytes, head.size()));
  std::lock_guard<std::mutex> lock(opened.mu);
  return opened.map.emplace(url, std::move(o)).first->second;
}

}  // namespace pydmed::remote
