#pragma once
// What a file's first bytes say: its kind, and for PNG and JPEG the image size, read from the
// header alone so that nothing is decoded before a reader has agreed to the size.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pydmed {

enum class ImageKind { kUnknown, kTiff, kPng, kJpeg, kDicom };

// By signature: TIFF or BigTIFF (either byte order), PNG, JPEG (SOI then a marker), DICOM (DICM
// after the 128-byte preamble).
// A path may be a URL (its first bytes are cached from the opening request).
ImageKind sniff_image_kind(const std::string& path);
class ByteSource;
ImageKind sniff_image_kind(const ByteSource& src);

struct ImageSize {
  std::int64_t width = 0, height = 0;
};

// TIFF: where the first directory starts (classic or BigTIFF, either byte order).
std::optional<std::uint64_t> tiff_first_directory_offset(const ByteSource& src);

// TIFF: the value of a real-valued tag (RATIONAL, SRATIONAL, FLOAT or DOUBLE) of the first
// directory, at full precision (libtiff hands some rationals out as float). nullopt when the tag
// is absent, of another type or unreadable.
std::optional<double> tiff_first_directory_real(const ByteSource& src, std::uint16_t tag);

// PNG: the IHDR chunk, which the format requires first. nullopt when it is not there.
std::optional<ImageSize> png_size(const std::string& path);
// The project's own pictures (coverage, heatmaps, tissue masks, regions) carry a mark that says
// "Software: pydmed_torch": a PNG tEXt chunk right after IHDR, a JPEG comment (COM) right after
// SOI. A folder scan tells them from slides by what they are, wherever they lie.
// mark_as_pydmed_output marks an encoded PNG or JPEG (anything else is left as it is);
// is_pydmed_output reads the mark back from a file's first bytes.
void mark_as_pydmed_output(std::vector<std::uint8_t>* encoded);
bool is_pydmed_output(const std::string& path);

// JPEG: the first SOFn segment, walking the markers before it. nullopt when none is found
// before the scan data or the end of the file.
std::optional<ImageSize> jpeg_size(const std::string& path);

}  // namespace pydmed
