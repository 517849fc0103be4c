#pragma once
// Private: where a DICOM instance's metadata ends and its frames lie, read from its bytes by
// range without loading the pixel data: the Part 10 preamble and meta group, then the dataset's
// elements walked by their lengths (sequences of undefined length by their delimiters) up to
// Pixel Data; then, where no Extended Offset Table says where the frames are, its fragments
// walked item by item (8 bytes read each).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "slide/byte_source.hpp"

namespace pydmed {

struct ByteRange {
  std::uint64_t offset = 0, bytes = 0;
};

struct DicomLayout {
  std::string transfer_syntax;   // (0002,0010), trimmed
  std::string sop_class;         // (0002,0002) MediaStorageSOPClassUID: known even where the rest fails
  std::uint64_t header_end = 0;  // where Pixel Data's element starts: the metadata is the bytes before
  bool encapsulated = false;
  ByteRange native;                 // native: Pixel Data's value
  std::uint64_t items = 0;          // encapsulated: where its first item (the Basic Offset Table) starts
};

// True when the file has the DICM signature after a 128-byte preamble (a cheap probe).
bool has_dicom_signature(const ByteSource& src);
// The layout of `src`; "" on success, else why not (one line, without the path).
std::string read_dicom_layout(const ByteSource& src, DicomLayout* out);
// An item's or a delimiter's header in encapsulated Pixel Data: 8 bytes at `at`, the tag as
// group << 16 | element. nullopt where the source ends first.
constexpr std::uint32_t kDicomItem = 0xFFFEE000u, kDicomSequenceEnd = 0xFFFEE0DDu;
struct ItemHeader {
  std::uint32_t tag = 0, length = 0;
};
std::optional<ItemHeader> read_item_header(const ByteSource& src, std::uint64_t at);
// Encapsulated Pixel Data's fragments (each item's value), the offset table left out; "" or why not.
std::string read_fragments(const ByteSource& src, const DicomLayout& layout, std::vector<ByteRange>* out);

}  // namespace pydmed
