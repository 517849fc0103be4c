#include "slide/argb.hpp"

namespace pydmed {

void argb_to_rgb(const std::uint32_t* argb, std::uint8_t* rgb, std::size_t count, Rgb bg) {
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t p = argb[i];
    const std::uint32_t a = p >> 24;
    std::uint8_t r = (p >> 16) & 0xFF, g = (p >> 8) & 0xFF, b = p & 0xFF;
    if (a == 0) {
      r = bg.r, g = bg.g, b = bg.b;
    } else if (a != 255) {
      auto un = [a](std::uint32_t c) {
        std::uint32_t v = (c * 255 + a / 2) / a;
        return static_cast<std::uint8_t>(v > 255 ? 255 : v);
      };
      r = un(r), g = un(g), b = un(b);
    }
    std::uint8_t* o = rgb + 3 * i;
    o[0] = r, o[1] = g, o[2] = b;
  }
}

void fill_background(std::uint8_t* rgb, std::int64_t stride, std::int64_t x, std::int64_t y, std::int64_t w,
                     std::int64_t h, Rgb bg) {
  for (std::int64_t r = 0; r < h; ++r) {
    std::uint8_t* p = rgb + ((y + r) * stride + x) * 3;
    for (std::int64_t c = 0; c < w; ++c) p[3 * c] = bg.r, p[3 * c + 1] = bg.g, p[3 * c + 2] = bg.b;
  }
}

}  // namespace pydmed
