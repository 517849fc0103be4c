#include "slide/jpeg_tile_decoder.hpp"

#include <csetjmp>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

namespace pydmed {

struct JpegTileDecoder::State {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr err{};
  std::jmp_buf env;
  char message[JMSG_LENGTH_MAX] = "";
};

namespace {

JpegTileDecoder::State* state_of(j_common_ptr cinfo) {
  return static_cast<JpegTileDecoder::State*>(cinfo->client_data);
}

[[noreturn]] void error_exit(j_common_ptr cinfo) {
  JpegTileDecoder::State* s = state_of(cinfo);
  (*cinfo->err->format_message)(cinfo, s->message);
  std::longjmp(s->env, 1);
}

// OpenSlide turns every warning into an error; so does this, or damaged tiles would differ.
void emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) error_exit(cinfo);
}

// The body runs between setjmp and a possible longjmp: plain C only, no C++ object with a
// destructor lives across it, and nothing it changes after setjmp is read after a longjmp.
// The decompressor is created and destroyed here, per tile, as OpenSlide does: libjpeg keeps
// quantisation and Huffman tables for the life of a decompressor, so a reused one would lend a
// tile that lacks a table the previous tile's (where OpenSlide fails, or uses the defaults).
bool run(JpegTileDecoder::State* s, const std::uint8_t* tables, std::size_t tables_bytes, const std::uint8_t* data,
         std::size_t bytes, JpegColour colour, int width, int height, std::uint8_t* const* rows) {
  j_decompress_ptr cinfo = &s->cinfo;
  cinfo->err = jpeg_std_error(&s->err);
  s->err.error_exit = error_exit;
  s->err.emit_message = emit_message;
  cinfo->client_data = s;
  if (setjmp(s->env) != 0) {
    jpeg_destroy_decompress(cinfo);  // safe on a struct jpeg_create_decompress did not finish
    return false;
  }
  jpeg_create_decompress(cinfo);  // keeps err and client_data
  bool ok = true;
  if (tables && tables_bytes > 0) {
    jpeg_mem_src(cinfo, const_cast<unsigned char*>(tables), static_cast<unsigned long>(tables_bytes));
    if (jpeg_read_header(cinfo, FALSE) != JPEG_HEADER_TABLES_ONLY) {
      std::snprintf(s->message, sizeof s->message, "Couldn't load JPEG tables");
      ok = false;
    }
  }
  if (ok) {
    jpeg_mem_src(cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(bytes));
    if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK) {
      std::snprintf(s->message, sizeof s->message, "Couldn't read JPEG header");
      ok = false;
    }
  }
  if (ok) {
    if (colour != JpegColour::kAsMarked)  // from the TIFF, as OpenSlide does
      cinfo->jpeg_color_space = colour == JpegColour::kYCbCr ? JCS_YCbCr : JCS_RGB;
    cinfo->out_color_space = JCS_RGB;
    jpeg_start_decompress(cinfo);
    if (int(cinfo->output_width) != width || int(cinfo->output_height) != height) {
      std::snprintf(s->message, sizeof s->message, "Dimensional mismatch reading JPEG, expected %dx%d, got %ux%u",
                    width, height, cinfo->output_width, cinfo->output_height);
      ok = false;
    }
  }
  // Every row, as OpenSlide decodes them: damage anywhere in the tile fails it, whatever part a
  // region takes. The end of the stream is not read (OpenSlide does not read it either).
  while (ok && cinfo->output_scanline < cinfo->output_height) {
    const JDIMENSION at = cinfo->output_scanline;
    jpeg_read_scanlines(cinfo, const_cast<JSAMPARRAY>(rows + at), cinfo->output_height - at);
  }
  jpeg_destroy_decompress(cinfo);
  return ok;
}

}  // namespace

JpegTileDecoder::JpegTileDecoder() : s_(std::make_unique<State>()) {}
JpegTileDecoder::~JpegTileDecoder() = default;

std::string JpegTileDecoder::decode(const std::uint8_t* tables, std::size_t tables_bytes, const std::uint8_t* data,
                                    std::size_t bytes, JpegColour colour, int width, int height, std::uint8_t* const* rows) {
  s_->message[0] = '\0';
  if (run(s_.get(), tables, tables_bytes, data, bytes, colour, width, height, rows)) return "";
  return s_->message[0] ? s_->message : "libjpeg failed";
}

}  // namespace pydmed
