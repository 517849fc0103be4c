#pragma once
// SHA-256 as lowercase hex (OpenSSL): of bytes in memory, or of a file's contents.
#include <cstddef>
#include <string>

namespace pydmed {

std::string sha256_hex(const void* data, std::size_t bytes);
// Read in 1 MiB pieces; Error naming the file when it cannot be read.
std::string file_sha256(const std::string& path);

}  // namespace pydmed
