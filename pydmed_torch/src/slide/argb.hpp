#pragma once
#include <cstddef>
#include <cstdint>

#include "pydmed/slide/slide.hpp"

namespace pydmed {

// OpenSlide's premultiplied ARGB (native-endian uint32) to RGB bytes. Opaque pixels are copied,
// transparent ones become `bg`, partly transparent ones are un-premultiplied (c * 255 / a,
// rounded). `rgb` may alias `argb` (it writes 3 bytes per 4 read, front to back).
void argb_to_rgb(const std::uint32_t* argb, std::uint8_t* rgb, std::size_t count, Rgb bg);

}  // namespace pydmed
