// The exact tile reader against OpenSlide itself (its C API, the oracle): the same levels,
// properties and associated images, and byte-identical regions at every level, on the real
// slides it claims and on generated ones; and the registry that chooses it.
#include <gtest/gtest.h>
#include <openslide/openslide.h>
#include <tiffio.h>

#include <cmath>
#include <memory>
#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/backend.hpp"
#include "pydmed/slide/sample_slide.hpp"
#include "pydmed/slide/slide.hpp"
#include "slide/argb.hpp"
#include "support.hpp"

using namespace pydmed;
using pydmed::test::TempDir;
using pydmed::test::wsi;

namespace {

using OsrPtr = std::unique_ptr<openslide_t, decltype(&openslide_close)>;
OsrPtr open_osr(const std::string& path) { return OsrPtr(openslide_open(path.c_str()), &openslide_close); }

const Rgb kBg{12, 34, 56};  // not white, so a missing background would show

// OpenSlide's region, as RGB with the same background.
cv::Mat osr_region(openslide_t* osr, std::int64_t x, std::int64_t y, int level, int w, int h) {
  std::vector<std::uint32_t> argb(std::size_t(w) * std::size_t(h));
  openslide_read_region(osr, argb.data(), x, y, level, w, h);
  EXPECT_EQ(openslide_get_error(osr), nullptr);
  cv::Mat out(h, w, CV_8UC3);
  argb_to_rgb(argb.data(), out.data, argb.size(), kBg);
  return out;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && std::equal(a.datastart, a.dataend, b.datastart);
}

// `count` random regions over all levels, compared with OpenSlide. Most sit at a whole pixel of
// their level (what the tile reader decodes itself), some straddle the edges or lie outside, and
// a few sit between pixels (what it hands to OpenSlide).
void expect_regions_identical(const std::string& path, int count, std::uint64_t seed) {
  Slide s(path);
  s.set_background(kBg);
  ASSERT_EQ(s.reader(), "tiff") << path;
  OsrPtr osr = open_osr(path);
  ASSERT_TRUE(osr);
  Rng rng({seed, 0x711E});
  int mismatches = 0, aligned = 0;
  for (int i = 0; i < count && mismatches < 5; ++i) {
    const int level = int(rng.below(std::uint64_t(s.level_count())));
    const LevelInfo& L = s.level(level);
    const int w = 1 + int(rng.below(400)), h = 1 + int(rng.below(400));
    // Level pixels from a region's width before the level to one after.
    std::int64_t lx = std::int64_t(rng.below(std::uint64_t(L.width + 2 * w))) - w;
    std::int64_t ly = std::int64_t(rng.below(std::uint64_t(L.height + 2 * h))) - h;
    std::int64_t x = std::llround(double(lx) * L.downsample), y = std::llround(double(ly) * L.downsample);
    if (rng.below(10) == 0) x += 1, y += 1;  // between pixels on levels above 0
    aligned += double(x) / L.downsample == std::floor(double(x) / L.downsample);
    const cv::Mat ours = s.read_region(x, y, level, w, h), theirs = osr_region(osr.get(), x, y, level, w, h);
    if (!same(ours, theirs)) {
      ++mismatches;
      ADD_FAILURE() << path << ": region (" << x << ", " << y << ") level " << level << " size " << w << " x " << h
                    << " differs from OpenSlide's";
    }
  }
  // Level 0 is always whole pixels: at least its share exercises the tile reader itself.
  EXPECT_GT(aligned, count / (2 * s.level_count())) << "too few regions for the tile reader itself";
}

void expect_same_metadata(const std::string& path) {
  Slide s(path);
  ASSERT_EQ(s.reader(), "tiff") << path;
  OsrPtr osr = open_osr(path);
  ASSERT_TRUE(osr);
  ASSERT_EQ(s.level_count(), openslide_get_level_count(osr.get()));
  for (int i = 0; i < s.level_count(); ++i) {
    std::int64_t w = 0, h = 0;
    openslide_get_level_dimensions(osr.get(), i, &w, &h);
    EXPECT_EQ(s.level(i).width, w);
    EXPECT_EQ(s.level(i).height, h);
    EXPECT_EQ(s.level(i).downsample, openslide_get_level_downsample(osr.get(), i));  // exactly
  }
  std::map<std::string, std::string> theirs;
  for (const char* const* p = openslide_get_property_names(osr.get()); *p; ++p) {
    const char* v = openslide_get_property_value(osr.get(), *p);
    theirs[*p] = v ? v : "";
  }
  EXPECT_EQ(s.properties(), theirs) << path;
  std::vector<std::string> names;
  for (const char* const* p = openslide_get_associated_image_names(osr.get()); *p; ++p) names.emplace_back(*p);
  EXPECT_EQ(s.associated_image_names(), names);
  for (const auto& name : names) {
    std::int64_t w = 0, h = 0;
    openslide_get_associated_image_dimensions(osr.get(), name.c_str(), &w, &h);
    std::vector<std::uint32_t> argb(std::size_t(w * h));
    openslide_read_associated_image(osr.get(), name.c_str(), argb.data());
    cv::Mat want(int(h), int(w), CV_8UC3);
    argb_to_rgb(argb.data(), want.data, argb.size(), s.background());
    EXPECT_TRUE(same(s.read_associated_image(name), want)) << name;
  }
}

// Generated pyramids: a size whose levels halve exactly (whole downsamples: every level is the
// tile reader's) and one whose levels do not (levels above 0 mostly go to OpenSlide).
struct GeneratedSlides {
  TempDir dir;
  std::string even = dir.file("even.tiff"), odd = dir.file("odd.tiff");
  GeneratedSlides() {
    write_sample_slide(even, SampleSlideOptions().width(2048).height(1536).tile_size(256).seed(3));
    write_sample_slide(odd, SampleSlideOptions().width(1999).height(1333).tile_size(128).seed(4).label(1));
  }
};

TEST(TileReader, ClaimsJpegPyramidsAndLeavesTheRestToOpenSlide) {
  const GeneratedSlides g;
  EXPECT_EQ(Slide(g.even).reader(), "tiff");
  EXPECT_EQ(Slide(g.even).vendor(), "generic-tiff");
  PYDMED_REQUIRE_WSI();
  EXPECT_EQ(Slide(wsi("CMU-1-Small-Region.svs")).reader(), "tiff");
  EXPECT_EQ(Slide(wsi("CMU-1-Small-Region.svs")).vendor(), "aperio");
  EXPECT_EQ(Slide(wsi("small.svs")).reader(), "tiff");
  EXPECT_EQ(Slide(wsi("CMU-1-Small-Region-pyramid.tiff")).reader(), "tiff");
  EXPECT_EQ(Slide(wsi("test3-DAPI-2-387.ndpi")).reader(), "openslide");  // Hamamatsu: not a TIFF pyramid of tiles
}

TEST(TileReader, LevelsPropertiesAndAssociatedImagesAreOpenSlides) {
  const GeneratedSlides g;
  expect_same_metadata(g.even);
  expect_same_metadata(g.odd);
  PYDMED_REQUIRE_WSI();
  for (const char* f : {"CMU-1-Small-Region.svs", "small.svs", "CMU-1-Small-Region-pyramid.tiff"})
    expect_same_metadata(wsi(f));
  // ../shared/wsi/README.md's value: quickhash-1 is OpenSlide's, not merely equal to what it says.
  EXPECT_EQ(Slide(wsi("CMU-1-Small-Region.svs")).properties().at("openslide.quickhash-1"),
            "6335ea0e6cc54c2cba64bb265d3c713a50cd84484924e3a9c109558c13521d5c");
}

TEST(TileReader, ThousandsOfRegionsAreByteIdenticalToOpenSlide) {
  const GeneratedSlides g;
  expect_regions_identical(g.even, 1500, 1);
  expect_regions_identical(g.odd, 1000, 2);
  PYDMED_REQUIRE_WSI();
  expect_regions_identical(wsi("CMU-1-Small-Region.svs"), 1500, 3);
  expect_regions_identical(wsi("CMU-1-Small-Region-pyramid.tiff"), 1500, 4);
  expect_regions_identical(wsi("small.svs"), 200, 5);
}

// OpenSlide paints reads larger than 4096 pixels in pieces whose later ones fall between pixels
// on a level with a downsample that is not whole: such reads must be OpenSlide's too.
TEST(TileReader, ReadsOfMoreThan4096PixelsOnUnevenLevels) {
  TempDir dir;
  const std::string p = dir.file("wide.tiff");
  write_sample_slide(p, SampleSlideOptions().width(9001).height(301).tile_size(256).seed(8));
  Slide s(p);
  s.set_background(kBg);
  ASSERT_NE(s.level(1).downsample, 2.0);
  OsrPtr osr = open_osr(p);
  for (const auto& [x, w] : {std::pair<std::int64_t, int>{0, 4501}, {0, 4097}, {0, 4096}}) {
    EXPECT_TRUE(same(s.read_region(x, 0, 1, w, 151), osr_region(osr.get(), x, 0, 1, w, 151))) << w;
  }
  EXPECT_TRUE(
      same(s.read_region(-3, 5, 0, 9010, 40), osr_region(osr.get(), -3, 5, 0, 9010, 40)));  // level 0: always whole
}

TEST(TileReader, ParallelDecodeGivesTheSameBytes) {
  const GeneratedSlides g;
  Slide one(g.even), four(g.even);
  four.set_decode_threads(4);
  EXPECT_GT(four.resident_bytes(), one.resident_bytes());  // a decoder per thread
  Rng rng({9});
  for (int i = 0; i < 20; ++i) {
    const std::int64_t x = std::int64_t(rng.below(1500)) - 200, y = std::int64_t(rng.below(1200)) - 200;
    EXPECT_TRUE(same(one.read_region(x, y, 0, 700, 650), four.read_region(x, y, 0, 700, 650))) << x << ", " << y;
  }
}

// A tiled JPEG TIFF written here with one tile left out (offset and byte count 0).
std::string write_tiff_missing_tile(const std::string& path, int skip_col, int skip_row) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  const int size = 512, tile = 128;
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, size);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, size);
  TIFFSetField(t, TIFFTAG_TILEWIDTH, tile);
  TIFFSetField(t, TIFFTAG_TILELENGTH, tile);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  cv::Mat px(tile, tile, CV_8UC3);
  for (int r = 0; r < size / tile; ++r)
    for (int c = 0; c < size / tile; ++c) {
      if (c == skip_col && r == skip_row) continue;
      px.setTo(cv::Scalar(40 * c, 40 * r, 200));
      TIFFWriteTile(t, px.data, std::uint32_t(c * tile), std::uint32_t(r * tile), 0, 0);
    }
  TIFFClose(t);
  return path;
}

TEST(TileReader, AMissingTileIsTheBackground) {
  TempDir dir;
  const std::string p = write_tiff_missing_tile(dir.file("holes.tiff"), 2, 1);
  Slide s(p);
  ASSERT_EQ(s.reader(), "tiff");
  s.set_background(kBg);
  const cv::Mat all = s.read_region(0, 0, 0, 512, 512);
  OsrPtr osr = open_osr(p);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      const cv::Mat tile = all(cv::Rect(c * 128, r * 128, 128, 128));
      if (c == 2 && r == 1) {
        EXPECT_EQ(cv::countNonZero(tile.reshape(1) !=
                                   cv::Mat(tile.size(), CV_8UC3, cv::Scalar(kBg.r, kBg.g, kBg.b)).reshape(1)),
                  0);
      } else {  // every written tile is still OpenSlide's (read on their own: 3.4.1 fails a read over the hole)
        EXPECT_TRUE(same(tile.clone(), osr_region(osr.get(), c * 128, r * 128, 0, 128, 128))) << c << ", " << r;
      }
    }
}

TEST(TileReader, ADamagedTileNamesTheFileAndTheTile) {
  TempDir dir;
  const std::string p = dir.file("bad.tiff");
  write_sample_slide(p, SampleSlideOptions().width(1024).height(1024).tile_size(256));
  {
    // Overwrite the middle of level 0's tile (1, 1) with garbage.
    TIFF* t = TIFFOpen(p.c_str(), "r");
    const auto index = TIFFComputeTile(t, 256, 256, 0, 0);
    const auto off = TIFFGetStrileOffset(t, index), n = TIFFGetStrileByteCount(t, index);
    TIFFClose(t);
    std::FILE* f = std::fopen(p.c_str(), "r+b");
    std::fseek(f, long(off + n / 4), SEEK_SET);
    for (std::uint64_t i = 0; i < n / 2; ++i) std::fputc(0xFF, f);
    std::fclose(f);
  }
  Slide s(p);
  ASSERT_EQ(s.reader(), "tiff");
  EXPECT_NO_THROW(s.read_region(0, 0, 0, 256, 256));  // other tiles still read
  try {
    s.read_region(200, 200, 0, 300, 300);
    FAIL() << "a damaged tile read without error";
  } catch (const SlideError& e) {
    EXPECT_NE(std::string(e.what()).find(p + ": cannot decode the tile at level 0 pixel (256, 256): "),
              std::string::npos)
        << e.what();
  }
}

TEST(TileReader, ARegisteredReaderIsAskedInItsPlace) {
  const auto before = slide_backend_names();
  ASSERT_GE(before.size(), 4u);
  EXPECT_EQ(std::vector<std::string>(before.end() - 4, before.end()),
            (std::vector<std::string>{"tiff", "openslide", "libtiff", "opencv"}));
  // A reader of ".solid" files: a one-level slide of a single colour, its size in the file.
  class Solid : public SlideBackend {
   public:
    Solid() { levels.push_back({300, 200, 1.0}), vendor = "solid"; }
    cv::Mat read_associated_image(const std::string&, Rgb) const override { return {}; }
    void read_region(std::uint8_t* rgb, std::int64_t, std::int64_t, int, std::int64_t w, std::int64_t h,
                     Rgb) const override {
      std::fill(rgb, rgb + w * h * 3, std::uint8_t(77));
    }
    std::size_t resident_bytes() const override { return 0; }
  };
  register_slide_backend({"solid",
                          [](const std::string& p) { return p.size() > 6 && p.substr(p.size() - 6) == ".solid"; },
                          [](const std::string&) {
                            OpenResult r;
                            r.backend = std::make_unique<Solid>();
                            return r;
                          }});
  EXPECT_EQ(slide_backend_names().front(), "solid");
  TempDir dir;
  pydmed::test::write_file(dir.file("a.solid"), "x");
  Slide s(dir.file("a.solid"));
  EXPECT_EQ(s.reader(), "solid");
  EXPECT_EQ(s.level(0).width, 300);
  EXPECT_EQ(s.read_region(10, 10, 0, 4, 4).at<cv::Vec3b>(3, 3)[1], 77);
  // Files its probe does not claim never see it.
  const GeneratedSlides g;
  EXPECT_EQ(Slide(g.even).reader(), "tiff");
}

}  // namespace
