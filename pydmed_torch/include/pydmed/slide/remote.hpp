#pragma once
// Slides where they live: wherever a slide path goes (Slide, manifests, sources, every pydmed
// command) an http://, https:// or s3://bucket/key URL goes too. The project's own readers (the
// TIFF-JPEG tile reader, DICOM) read them by byte range through a per-process block cache, with
// the tiles of the BigChunks the loader plans fetched ahead; slides only OpenSlide reads are
// fetched whole into the disk cache (or a temporary folder) and opened there.
//
// s3:// requests are signed (AWS Signature Version 4) when AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY are set (AWS_SESSION_TOKEN too, AWS_REGION else us-east-1), unsigned
// otherwise (public buckets); AWS_ENDPOINT_URL names an S3-compatible store (path-style requests).
// An s3:// prefix ending in '/' is a folder. Credentials and query strings never appear in
// messages or output names.
#include <cstdint>
#include <string>

#include "pydmed/arg.hpp"

namespace pydmed {

// http://, https:// or s3://
bool is_url(const std::string& path);
// The URL as messages and output names show it: no user:password@, no query string.
std::string redact_url(const std::string& url);
// The last segment of a URL's path, percent-decoded, without query ("a.svs"); "" for a prefix.
std::string url_file_name(const std::string& url);

// Opens `url` (one request, remembered by the process): throws SlideError naming it when the
// object is missing, forbidden or unreachable.
void check_remote(const std::string& url);
// What resumable runs compare: "N bytes, ETag X" for an object, "N objects, M bytes" for an
// s3:// folder.
std::string remote_stamp(const std::string& url);

struct RemoteOptions {
  // A folder for fetched bytes shared by the processes of a run and by later runs, checked
  // against each object's ETag and size; "": none (whole-file fetches then go to a temporary
  // folder removed when the program ends).
  PYDMED_ARG(std::string, cache_dir) = "";
  // Bytes the disk cache may hold; least recently used objects go first.
  PYDMED_ARG(std::uint64_t, cache_bytes) = std::uint64_t(20) << 30;
  // Bytes each process keeps in memory.
  PYDMED_ARG(std::uint64_t, memory_bytes) = std::uint64_t(256) << 20;
  // Tries of a request that timed out, was cut short or got a 5xx/429, with backoff from 100 ms.
  PYDMED_ARG(int, tries) = 5;
  // A request receiving nothing for this long has timed out.
  PYDMED_ARG(double, stall_seconds) = 20;
  // Requests in flight at once per process (prefetch).
  PYDMED_ARG(int, connections) = 24;
};

// For the slides opened after the call, in this process and the collectors it starts.
// Throws OptionsError for a cache folder that cannot be made or written.
void set_remote_options(const RemoteOptions& options);
RemoteOptions remote_options();

// "20G", "512M", "1024": bytes; OptionsError naming `flag` otherwise.
std::uint64_t parse_byte_size(const std::string& flag, const std::string& text);

}  // namespace pydmed
