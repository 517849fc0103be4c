#pragma once
// Private: where a DICOM instance's metadata ends and its frames lie, read from its bytes by
// range without loading the pixel data: the Part 10 preamble and meta group, then the dataset's
// elements walked by their lengths (sequences of undefined length by their delimiters) up to
// Pixel Data, whose fragments (encapsulated) or whose value (native) it lists.
#include <cstdint>
#include <string>
#include <vector>

#include "slide/byte_source.hpp"

namespace pydmed {

struct ByteRange {
  std::uint64_t offset = 0, bytes = 0;
};

struct DicomLayout {
  std::string transfer_syntax;   // (0002,0010), trimmed
  std::uint64_t header_end = 0;  // where Pixel Data's element starts: the metadata is the bytes before
  bool encapsulated = false;
  ByteRange native;                      // native: Pixel Data's value
  std::vector<ByteRange> fragments;      // encapsulated: each fragment's value, the offset table left out
  std::vector<std::uint32_t> offset_table;  // encapsulated: the Basic Offset Table, often empty
};

// True when the file has the DICM signature after a 128-byte preamble (a cheap probe).
bool has_dicom_signature(const ByteSource& src);
// The layout of `src`; "" on success, else why not (one line, without the path).
std::string read_dicom_layout(const ByteSource& src, DicomLayout* out);

}  // namespace pydmed
