#pragma once
// Private: one HTTP/1.1 GET at a time per thread, on a libcurl handle the thread keeps (its
// connection stays open for the next request to the same host). A handle belongs to the process
// that made it: after fork the child makes its own and never touches the parent's connection.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "remote/url.hpp"

namespace pydmed::remote {

struct Reply {
  std::uint64_t total = 0;  // the object's size (from Content-Range, or Content-Length on a 200)
  std::string etag;         // ETag, or ""
  std::string last_modified;
  std::size_t bytes = 0;    // body bytes delivered
};

// Bytes [offset, offset + n) of `t` into `dst` (n > 0), retried with backoff on timeouts,
// cut-short replies, 5xx and 429. Throws SlideError naming t.name with what the server said
// (403/404 with S3's code and message) or what failed. A reply with fewer bytes than asked is
// an error unless the object ends there.
// With `if_match` (the ETag the object was opened with), a changed object is a 412, not bytes of
// another version.
Reply get_range(const Target& t, void* dst, std::size_t n, std::uint64_t offset, const std::string& if_match = "");

// The whole object, streamed to `sink` (which returns false to stop); retried only before the
// first byte arrives.
Reply get_all(const Target& t, const std::function<bool(const char*, std::size_t)>& sink);

// A small document (a listing): the whole body.
std::string get_text(const Target& t);

// Bytes this process received in bodies, since it started (forked children start at 0).
std::uint64_t bytes_received();

// For benchmarks: with PYDMED_REMOTE_STATS=FILE, each read of remote tiles appends
// "PID NEEDED RECEIVED" to FILE: the compressed bytes of the tiles this process has read so far
// and the body bytes it has received. Nothing without the variable.
void note_tiles_read(std::uint64_t bytes);

}  // namespace pydmed::remote
