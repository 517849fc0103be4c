#pragma once
// Private: one libjpeg decompressor, reused tile after tile, set up as OpenSlide 3.4.1 sets up
// its own for TIFF JPEG tiles (openslide-decode-tiff.c decode_jpeg): the level's JPEGTables
// first, the colour space forced from the TIFF photometric, libjpeg's default IDCT and
// upsampling, and warnings (corrupt data, a short stream) treated as errors.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pydmed {

class JpegTileDecoder {
 public:
  JpegTileDecoder();
  ~JpegTileDecoder();
  JpegTileDecoder(const JpegTileDecoder&) = delete;
  JpegTileDecoder& operator=(const JpegTileDecoder&) = delete;

  // Decodes the first `rows_wanted` rows of a width x height tile as RGB, output row i to rows[i]
  // (width * 3 bytes each; rows may repeat where they are thrown away). Rows below are not
  // decoded: a JPEG decodes top-down, so the rows above come out as in a whole decode. `tables`
  // may be null. Returns "" or libjpeg's reason.
  std::string decode(const std::uint8_t* tables, std::size_t tables_bytes, const std::uint8_t* data, std::size_t bytes,
                     bool ycbcr, int width, int height, int rows_wanted, std::uint8_t* const* rows);

  struct State;  // libjpeg's structs, defined in the .cpp only

 private:
  std::unique_ptr<State> s_;
};

}  // namespace pydmed
