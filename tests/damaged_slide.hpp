#pragma once
// A generated sample slide and a copy with damaged level-0 JPEG tiles: each damaged tile
// starts with 00 00 instead of the JPEG SOI marker, so libjpeg refuses it ("Not a JPEG file")
// and OpenSlide's read of any region touching it fails.
#include <gtest/gtest.h>
#include <tiffio.h>

#include <string>
#include <utility>
#include <vector>

#include "pydmed/slide/sample_slide.hpp"
#include "support.hpp"

namespace pydmed::test {

struct DamagedSlide {
  static constexpr int kTile = 256, kWidth = 2048, kHeight = 1536;
  TempDir dir;
  std::string clean = dir.file("clean.tif"), damaged = dir.file("damaged.tif");

  // `tiles`: (column, row) of the level-0 tiles to damage; empty: all of them.
  explicit DamagedSlide(const std::vector<std::pair<int, int>>& tiles) {
    write_sample_slide(clean, SampleSlideOptions().width(kWidth).height(kHeight).tile_size(kTile).seed(3));
    std::string bytes = read_file(clean);
    TIFF* t = TIFFOpen(clean.c_str(), "r");  // the first directory is level 0
    EXPECT_NE(t, nullptr);
    const int across = (kWidth + kTile - 1) / kTile, down = (kHeight + kTile - 1) / kTile;
    std::vector<std::pair<int, int>> all = tiles;
    if (all.empty())
      for (int r = 0; r < down; ++r)
        for (int c = 0; c < across; ++c) all.push_back({c, r});
    for (auto [col, row] : all) {
      const std::uint64_t off = TIFFGetStrileOffset(t, std::uint32_t(row * across + col));
      EXPECT_EQ(std::uint8_t(bytes[off]), 0xFF);
      EXPECT_EQ(std::uint8_t(bytes[off + 1]), 0xD8);
      bytes[off] = 0, bytes[off + 1] = 0;
    }
    TIFFClose(t);
    write_file(damaged, bytes);
  }
};

}  // namespace pydmed::test
