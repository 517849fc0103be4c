#include "slide/image_header.hpp"

#include <array>
#include <cstring>
#include <fstream>

namespace pydmed {
namespace {

std::uint32_t be16(const unsigned char* p) { return std::uint32_t(p[0]) << 8 | p[1]; }
std::uint32_t be32(const unsigned char* p) { return be16(p) << 16 | be16(p + 2); }

}  // namespace

ImageKind sniff_image_kind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[8] = {};
  in.read(reinterpret_cast<char*>(b), sizeof b);
  const auto n = in.gcount();
  if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                 (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43)))) {
    return ImageKind::kTiff;
  }
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n == 8 && std::memcmp(b, kPng, 8) == 0) return ImageKind::kPng;
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageKind::kJpeg;
  return ImageKind::kUnknown;
}

std::optional<std::uint64_t> tiff_first_directory_offset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[16] = {};
  if (!in.read(reinterpret_cast<char*>(b), 8)) return std::nullopt;
  const bool little = b[0] == 'I';
  auto get = [&](int at, int bytes) {
    std::uint64_t v = 0;
    for (int k = 0; k < bytes; ++k) v |= std::uint64_t(b[at + (little ? k : bytes - 1 - k)]) << (8 * k);
    return v;
  };
  const auto version = get(2, 2);
  if (version == 42) return get(4, 4);
  if (version != 43 || !in.read(reinterpret_cast<char*>(b + 8), 8)) return std::nullopt;
  return get(8, 8);  // BigTIFF: offset size (2), zero (2), then the 8-byte offset
}

std::optional<ImageSize> png_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[24] = {};
  if (!in.read(reinterpret_cast<char*>(b), sizeof b)) return std::nullopt;
  // Signature (8), chunk length (4), "IHDR" (4), width (4), height (4), big-endian.
  if (std::memcmp(b + 12, "IHDR", 4) != 0 || be32(b + 8) != 13) return std::nullopt;
  return ImageSize{be32(b + 16), be32(b + 20)};
}

std::optional<ImageSize> jpeg_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[2];
  if (!in.read(reinterpret_cast<char*>(b), 2) || b[0] != 0xFF || b[1] != 0xD8) return std::nullopt;
  for (;;) {
    int c = in.get();
    if (c != 0xFF) return std::nullopt;  // segments follow each other with no gap
    while (c == 0xFF) c = in.get();      // fill bytes
    if (c == EOF) return std::nullopt;
    const int marker = c;
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length field
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;          // EOI or scan: no SOF
    unsigned char len[2];
    if (!in.read(reinterpret_cast<char*>(len), 2) || be16(len) < 2) return std::nullopt;
    const std::uint32_t length = be16(len);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision (1), height (2), width (2).
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      unsigned char sof[5];
      if (length < 7 || !in.read(reinterpret_cast<char*>(sof), 5)) return std::nullopt;
      return ImageSize{be16(sof + 3), be16(sof + 1)};
    }
    if (!in.seekg(length - 2, std::ios::cur)) return std::nullopt;
  }
}

}  // namespace pydmed
