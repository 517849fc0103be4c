// OpenSlide's premultiplied ARGB to RGB, pixel by pixel.
#include <gtest/gtest.h>

#include "slide/argb.hpp"

using namespace pydmed;

TEST(Argb, OpaqueTransparentAndPartial) {
  const std::uint32_t px[] = {
      0xFF102030u,  // opaque: copied
      0x00000000u,  // transparent: background
      0x80400000u,  // half alpha, premultiplied red 0x40: 0x40 * 255 / 128 = 127.5 -> 128
      0x01010101u,  // alpha 1: 1 * 255 / 1 = 255
      0x7F7F7F7Fu,  // premultiplied white at alpha 127: 255
  };
  std::uint8_t out[15];
  argb_to_rgb(px, out, 5, Rgb{9, 8, 7});
  const std::uint8_t want[15] = {0x10, 0x20, 0x30, 9, 8, 7, 128, 0, 0, 255, 255, 255, 255, 255, 255};
  for (int i = 0; i < 15; ++i) EXPECT_EQ(out[i], want[i]) << i;
}

TEST(Argb, ConvertsInPlace) {
  std::vector<std::uint32_t> buf = {0xFF010203u, 0xFF040506u, 0x00000000u, 0xFF0A0B0Cu};
  auto* bytes = reinterpret_cast<std::uint8_t*>(buf.data());
  argb_to_rgb(buf.data(), bytes, buf.size(), Rgb{255, 255, 255});
  const std::uint8_t want[12] = {1, 2, 3, 4, 5, 6, 255, 255, 255, 10, 11, 12};
  EXPECT_EQ(std::memcmp(bytes, want, 12), 0);
}
