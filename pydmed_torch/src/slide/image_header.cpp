#include "slide/image_header.hpp"

#include "pydmed/error.hpp"
#include "slide/byte_source.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>

#include <zlib.h>

namespace pydmed {
namespace {

std::uint32_t be16(const unsigned char* p) { return std::uint32_t(p[0]) << 8 | p[1]; }
std::uint32_t be32(const unsigned char* p) { return be16(p) << 16 | be16(p + 2); }

}  // namespace

ImageKind sniff_image_kind(const ByteSource& src) {
  unsigned char b[8] = {};
  const std::size_t n = src.read_at(b, sizeof b, 0);
  char dicm[4] = {};  // first: a DICOM-TIFF dual-personality file is a DICOM instance
  if (n == 8 && src.read_at(dicm, 4, 128) == 4 && std::memcmp(dicm, "DICM", 4) == 0) return ImageKind::kDicom;
  if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                 (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43)))) {
    return ImageKind::kTiff;
  }
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n == 8 && std::memcmp(b, kPng, 8) == 0) return ImageKind::kPng;
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageKind::kJpeg;
  return ImageKind::kUnknown;
}

ImageKind sniff_image_kind(const std::string& path) {
  try {
    return sniff_image_kind(*open_source(path));
  } catch (const RemoteError&) {
    throw;  // the store did not answer: not a kind
  } catch (const std::exception&) {
    return ImageKind::kUnknown;  // unreadable: the reader that opens it says why
  }
}

std::optional<std::uint64_t> tiff_first_directory_offset(const ByteSource& src) {
  unsigned char b[16] = {};
  if (src.read_at(b, 8, 0) != 8) return std::nullopt;
  const bool little = b[0] == 'I';
  auto get = [&](int at, int bytes) {
    std::uint64_t v = 0;
    for (int k = 0; k < bytes; ++k) v |= std::uint64_t(b[at + (little ? k : bytes - 1 - k)]) << (8 * k);
    return v;
  };
  const auto version = get(2, 2);
  if (version == 42) return get(4, 4);
  if (version != 43 || src.read_at(b + 8, 8, 8) != 8) return std::nullopt;
  return get(8, 8);  // BigTIFF: offset size (2), zero (2), then the 8-byte offset
}

std::optional<double> tiff_first_directory_real(const ByteSource& src, std::uint16_t tag) {
  const auto first = tiff_first_directory_offset(src);
  unsigned char head[4] = {};
  if (!first || src.read_at(head, 4, 0) != 4) return std::nullopt;
  const bool little = head[0] == 'I', big = (little ? head[2] : head[3]) == 43;
  auto get = [&](const unsigned char* b, int bytes) {
    std::uint64_t v = 0;
    for (int k = 0; k < bytes; ++k) v |= std::uint64_t(b[little ? k : bytes - 1 - k]) << (8 * k);
    return v;
  };
  auto read_at = [&](std::uint64_t at, unsigned char* b, int n) { return src.read_at(b, std::size_t(n), at) == std::size_t(n); };
  const int count_bytes = big ? 8 : 2, entry_bytes = big ? 20 : 12, field_bytes = big ? 8 : 4;
  unsigned char b[20];
  if (!read_at(*first, b, count_bytes)) return std::nullopt;
  const std::uint64_t entries = std::min<std::uint64_t>(get(b, count_bytes), 4096);
  for (std::uint64_t i = 0; i < entries; ++i) {
    if (!read_at(*first + std::uint64_t(count_bytes) + i * std::uint64_t(entry_bytes), b, entry_bytes))
      return std::nullopt;
    if (get(b, 2) != tag) continue;
    const auto type = get(b + 2, 2);
    const int size = type == 5 || type == 10 || type == 12 ? 8 : type == 11 ? 4 : 0;
    if (size == 0 || get(b + 4, field_bytes) < 1) return std::nullopt;
    unsigned char v[8];
    const unsigned char* value = b + 4 + field_bytes;  // inline when it fits the field
    if (size > field_bytes) {
      if (!read_at(get(value, field_bytes), v, size)) return std::nullopt;
      value = v;
    }
    if (type == 5) return double(get(value, 4)) / double(get(value + 4, 4));
    if (type == 10) return double(std::int32_t(get(value, 4))) / double(std::int32_t(get(value + 4, 4)));
    const std::uint64_t bits = get(value, size);
    if (type == 11) {
      float f;
      const auto u = std::uint32_t(bits);
      std::memcpy(&f, &u, 4);
      return double(f);
    }
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  return std::nullopt;
}

std::optional<ImageSize> png_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[24] = {};
  if (!in.read(reinterpret_cast<char*>(b), sizeof b)) return std::nullopt;
  // Signature (8), chunk length (4), "IHDR" (4), width (4), height (4), big-endian.
  if (std::memcmp(b + 12, "IHDR", 4) != 0 || be32(b + 8) != 13) return std::nullopt;
  return ImageSize{be32(b + 16), be32(b + 20)};
}

namespace {
constexpr char kMarkerText[] = "Software\0pydmed_torch";  // keyword, NUL, text
constexpr std::size_t kMarkerBytes = sizeof kMarkerText - 1;
constexpr std::size_t kAfterIhdr = 8 + 4 + 4 + 13 + 4;  // signature, IHDR's length, type, data, CRC
}  // namespace

void mark_as_pydmed_output(std::vector<std::uint8_t>* bytes) {
  std::vector<std::uint8_t>& b = *bytes;
  if (b.size() >= kAfterIhdr && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
    std::vector<std::uint8_t> chunk = {0, 0, 0, std::uint8_t(kMarkerBytes), 't', 'E', 'X', 't'};
    chunk.insert(chunk.end(), kMarkerText, kMarkerText + kMarkerBytes);
    const uLong crc = crc32(0L, chunk.data() + 4, uInt(chunk.size() - 4));  // over type and data
    for (int s = 24; s >= 0; s -= 8) chunk.push_back(std::uint8_t(crc >> s));
    b.insert(b.begin() + std::ptrdiff_t(kAfterIhdr), chunk.begin(), chunk.end());
  } else if (b.size() >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
    std::vector<std::uint8_t> com = {0xFF, 0xFE, 0, std::uint8_t(2 + kMarkerBytes)};  // length counts itself
    com.insert(com.end(), kMarkerText, kMarkerText + kMarkerBytes);
    b.insert(b.begin() + 2, com.begin(), com.end());
  }
}

bool is_pydmed_output(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, kAfterIhdr + 8 + kMarkerBytes> b{};
  const std::size_t n = std::size_t(in.read(b.data(), std::streamsize(b.size())).gcount());
  const char* text = nullptr;
  if (n == b.size() && std::memcmp(b.data() + 1, "PNG", 3) == 0 &&
      std::memcmp(b.data() + kAfterIhdr + 4, "tEXt", 4) == 0)
    text = b.data() + kAfterIhdr + 8;
  if (n >= 6 + kMarkerBytes && std::memcmp(b.data(), "\xFF\xD8\xFF\xFE", 4) == 0) text = b.data() + 6;
  return text && std::memcmp(text, kMarkerText, kMarkerBytes) == 0;
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
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;           // EOI or scan: no SOF
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
