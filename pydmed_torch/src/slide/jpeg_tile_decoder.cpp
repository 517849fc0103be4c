#include "slide/jpeg_tile_decoder.hpp"

#include <algorithm>
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

JpegTileDecoder::State* state_of(j_common_ptr cinfo) { return static_cast<JpegTileDecoder::State*>(cinfo->client_data); }

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
// destructor lives across it.
bool run(JpegTileDecoder::State* s, const std::uint8_t* tables, std::size_t tables_bytes, const std::uint8_t* data,
         std::size_t bytes, bool ycbcr, int width, int height, int rows_wanted, std::uint8_t* const* rows) {
  j_decompress_ptr cinfo = &s->cinfo;
  if (setjmp(s->env) != 0) {
    jpeg_abort_decompress(cinfo);
    return false;
  }
  if (tables && tables_bytes > 0) {
    jpeg_mem_src(cinfo, const_cast<unsigned char*>(tables), static_cast<unsigned long>(tables_bytes));
    if (jpeg_read_header(cinfo, FALSE) != JPEG_HEADER_TABLES_ONLY) {
      std::snprintf(s->message, sizeof s->message, "Couldn't load JPEG tables");
      jpeg_abort_decompress(cinfo);
      return false;
    }
  }
  jpeg_mem_src(cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(bytes));
  if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK) {
    std::snprintf(s->message, sizeof s->message, "Couldn't read JPEG header");
    jpeg_abort_decompress(cinfo);
    return false;
  }
  cinfo->jpeg_color_space = ycbcr ? JCS_YCbCr : JCS_RGB;  // from the TIFF, as OpenSlide does
  cinfo->out_color_space = JCS_RGB;
  jpeg_start_decompress(cinfo);
  if (int(cinfo->output_width) != width || int(cinfo->output_height) != height) {
    std::snprintf(s->message, sizeof s->message, "Dimensional mismatch reading JPEG, expected %dx%d, got %ux%u", width, height,
                  cinfo->output_width, cinfo->output_height);
    jpeg_abort_decompress(cinfo);
    return false;
  }
  while (cinfo->output_scanline < JDIMENSION(rows_wanted)) {
    const JDIMENSION at = cinfo->output_scanline;
    jpeg_read_scanlines(cinfo, const_cast<JSAMPARRAY>(rows + at), JDIMENSION(rows_wanted) - at);
  }
  // The rest of the stream is not read (OpenSlide does not read its end either): abort, not finish.
  jpeg_abort_decompress(cinfo);
  return true;
}

}  // namespace

JpegTileDecoder::JpegTileDecoder() : s_(std::make_unique<State>()) {
  s_->cinfo.err = jpeg_std_error(&s_->err);
  s_->err.error_exit = error_exit;
  s_->err.emit_message = emit_message;
  s_->cinfo.client_data = s_.get();
  jpeg_create_decompress(&s_->cinfo);
}

JpegTileDecoder::~JpegTileDecoder() { jpeg_destroy_decompress(&s_->cinfo); }

std::string JpegTileDecoder::decode(const std::uint8_t* tables, std::size_t tables_bytes, const std::uint8_t* data, std::size_t bytes,
                                    bool ycbcr, int width, int height, int rows_wanted, std::uint8_t* const* rows) {
  s_->message[0] = '\0';
  if (run(s_.get(), tables, tables_bytes, data, bytes, ycbcr, width, height, std::min(rows_wanted, height), rows)) return "";
  return s_->message[0] ? s_->message : "libjpeg failed";
}

}  // namespace pydmed
