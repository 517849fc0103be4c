#pragma once
// Private: the objects under an s3:// prefix (ListObjectsV2, page by page), as s3:// URLs in
// key order, with their sizes.
#include <cstdint>
#include <string>
#include <utility>
#include <cstdlib>
#include <vector>

namespace pydmed::remote {

// `prefix` is "s3://bucket/some/prefix/"; throws SlideError naming it (403, no such bucket, ...).
std::vector<std::pair<std::string, std::uint64_t>> list_objects(const std::string& prefix);

}  // namespace pydmed::remote
