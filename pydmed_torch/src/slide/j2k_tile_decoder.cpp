#include "slide/j2k_tile_decoder.hpp"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace pydmed {

namespace {

// OpenJPEG reads from memory through these.
struct Memory {
  const std::uint8_t* data;
  std::size_t size, at = 0;
};

OPJ_SIZE_T read_memory(void* dst, OPJ_SIZE_T n, void* user) {
  auto* m = static_cast<Memory*>(user);
  if (m->at >= m->size) return OPJ_SIZE_T(-1);  // the end, as OpenJPEG expects it
  n = std::min<OPJ_SIZE_T>(n, m->size - m->at);
  std::memcpy(dst, m->data + m->at, n);
  m->at += n;
  return n;
}
OPJ_OFF_T skip_memory(OPJ_OFF_T n, void* user) {
  auto* m = static_cast<Memory*>(user);
  const OPJ_OFF_T to = std::clamp<OPJ_OFF_T>(OPJ_OFF_T(m->at) + n, 0, OPJ_OFF_T(m->size));
  const OPJ_OFF_T moved = to - OPJ_OFF_T(m->at);
  m->at = std::size_t(to);
  return moved;
}
OPJ_BOOL seek_memory(OPJ_OFF_T to, void* user) {
  auto* m = static_cast<Memory*>(user);
  if (to < 0 || std::size_t(to) > m->size) return OPJ_FALSE;
  m->at = std::size_t(to);
  return OPJ_TRUE;
}

// Codec and stream handles are the same type to C++ (void**): a deleter each.
struct FreeCodec {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct FreeStream {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct FreeImage {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

}  // namespace

std::string decode_j2k(const std::uint8_t* data, std::size_t bytes, int width, int height, std::uint8_t* const* rows) {
  static const std::uint8_t kJp2[] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' '};
  const bool jp2 = bytes >= sizeof kJp2 && std::memcmp(data, kJp2, sizeof kJp2) == 0;
  std::unique_ptr<opj_codec_t, FreeCodec> codec(opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!codec || !opj_setup_decoder(codec.get(), &params)) return "OpenJPEG cannot start";
  Memory m{data, bytes};
  std::unique_ptr<opj_stream_t, FreeStream> stream(opj_stream_create(1 << 16, OPJ_TRUE));
  opj_stream_set_user_data(stream.get(), &m, nullptr);
  opj_stream_set_user_data_length(stream.get(), bytes);
  opj_stream_set_read_function(stream.get(), read_memory);
  opj_stream_set_skip_function(stream.get(), skip_memory);
  opj_stream_set_seek_function(stream.get(), seek_memory);
  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) return "not a JPEG 2000 codestream";
  std::unique_ptr<opj_image_t, FreeImage> image(raw);
  if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get()))
    return "OpenJPEG cannot decode it (damaged?)";
  if (image->numcomps != 3) return std::to_string(image->numcomps) + " components, not 3";
  for (OPJ_UINT32 c = 0; c < 3; ++c) {
    const opj_image_comp_t& k = image->comps[c];
    if (k.prec != 8 || k.sgnd || k.dx != 1 || k.dy != 1) return "components other than 8-bit, unsigned, full size";
    if (int(k.w) != width || int(k.h) != height)
      return "Dimensional mismatch, expected " + std::to_string(width) + "x" + std::to_string(height) + ", got " +
             std::to_string(k.w) + "x" + std::to_string(k.h);
  }
  for (int y = 0; y < height; ++y) {
    std::uint8_t* out = rows[y];
    const std::size_t at = std::size_t(y) * std::size_t(width);
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) out[3 * x + c] = std::uint8_t(image->comps[c].data[at + std::size_t(x)]);
  }
  return "";
}

}  // namespace pydmed
