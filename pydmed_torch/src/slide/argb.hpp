#pragma once
#include <cstddef>
#include <cstdint>

#include "pydmed/slide/slide.hpp"

namespace pydmed {

// OpenSlide's premultiplied ARGB (native-endian uint32) to RGB bytes. Opaque pixels are copied,
// transparent ones become `bg`, partly transparent ones are un-premultiplied (c * 255 / a,
// rounded). `rgb` may alias `argb` (it writes 3 bytes per 4 read, front to back).
void argb_to_rgb(const std::uint32_t* argb, std::uint8_t* rgb, std::size_t count, Rgb bg);

// The w x h rectangle at (x, y) of an RGB image `stride` pixels wide, set to `bg`.
void fill_background(std::uint8_t* rgb, std::int64_t stride, std::int64_t x, std::int64_t y, std::int64_t w,
                     std::int64_t h, Rgb bg);

}  // namespace pydmed
