#pragma once
// Private: a JPEG 2000 frame (a codestream, or a JP2 file) decoded by OpenJPEG into 8-bit RGB
// rows. OpenJPEG undoes the codestream's own component transform (RCT, lossless; ICT, lossy),
// which is what DICOM's YBR_RCT and YBR_ICT say; components must be three, 8-bit, unsigned and
// not subsampled.
#include <cstddef>
#include <cstdint>
#include <string>

namespace pydmed {

// Decodes a width x height frame, row i to rows[i]; returns "" or why not.
std::string decode_j2k(const std::uint8_t* data, std::size_t bytes, int width, int height, std::uint8_t* const* rows);

}  // namespace pydmed
