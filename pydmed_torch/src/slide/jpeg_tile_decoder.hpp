#pragma once
// Private: libjpeg set up as OpenSlide 3.4.1 sets it up for TIFF JPEG tiles
// (openslide-decode-tiff.c decode_jpeg): a fresh decompressor per tile (no table outlives its
// tile), the level's JPEGTables first, the colour space forced from the TIFF photometric,
// libjpeg's default IDCT and upsampling, warnings (corrupt data, a short stream) as errors.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pydmed {

// The colour space the tile's components are in: forced from the container (TIFF photometric,
// as OpenSlide does), or as libjpeg guesses it from the stream's markers (JFIF, Adobe APP14,
// component ids: what DICOM converters and viewers assume).
enum class JpegColour { kYCbCr, kRgb, kAsMarked };

class JpegTileDecoder {
 public:
  JpegTileDecoder();
  ~JpegTileDecoder();
  JpegTileDecoder(const JpegTileDecoder&) = delete;
  JpegTileDecoder& operator=(const JpegTileDecoder&) = delete;

  // Decodes a width x height tile as RGB, output row i to rows[i] (width * 3 bytes each; rows
  // may repeat where they are thrown away). `tables` may be null. Returns "" or libjpeg's reason.
  std::string decode(const std::uint8_t* tables, std::size_t tables_bytes, const std::uint8_t* data, std::size_t bytes,
                     JpegColour colour, int width, int height, std::uint8_t* const* rows);

  struct State;  // libjpeg's structs, defined in the .cpp only

 private:
  std::unique_ptr<State> s_;
};

}  // namespace pydmed
