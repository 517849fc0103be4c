// Bad input gets a SlideError that names the file and the reason; nothing crashes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using namespace pydmed;
using pydmed::test::TempDir;
using pydmed::test::wsi;

namespace {

// Runs `f`, expects a SlideError whose message names `path` and contains `reason`.
template <class F>
void expect_slide_error(F&& f, const std::string& path, const std::string& reason) {
  try {
    f();
    ADD_FAILURE() << "no error for " << path;
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST(SlideErrors, MissingFile) {
  TempDir d;
  const auto p = d.file("nope.svs");
  expect_slide_error([&] { Slide s(p); }, p, "no such file");
}

TEST(SlideErrors, Directory) {
  TempDir d;
  expect_slide_error([&] { Slide s(d.path()); }, d.path(), "is a directory");
}

TEST(SlideErrors, EmptyFile) {
  TempDir d;
  const auto p = d.file("empty.svs");
  pydmed::test::write_file(p, "");
  expect_slide_error([&] { Slide s(p); }, p, "empty file");
}

TEST(SlideErrors, RandomBytesWithASlideSuffix) {
  TempDir d;
  std::string junk(100000, '\0');
  std::uint64_t x = 12345;
  for (auto& c : junk) x = x * 6364136223846793005ULL + 1, c = char(x >> 56);
  for (const char* name : {"junk.svs", "junk.ndpi", "junk.tiff", "junk.png"}) {
    const auto p = d.file(name);
    pydmed::test::write_file(p, junk);
    expect_slide_error([&] { Slide s(p); }, p, "unsupported format");
  }
}

// A slide cut short: the error comes when opening or, at the latest, when reading pixels.
void expect_truncated_fails(const std::string& src, const std::string& dst, double keep) {
  const std::string bytes = pydmed::test::read_file(src);
  pydmed::test::write_file(dst, bytes.substr(0, std::size_t(bytes.size() * keep)));
  try {
    Slide s(dst);
    for (int l = 0; l < s.level_count(); ++l) {
      const auto& L = s.level(l);
      for (std::int64_t y = 0; y < L.height; y += 1024)
        for (std::int64_t x = 0; x < L.width; x += 1024)
          s.read_region(std::int64_t(x * L.downsample), std::int64_t(y * L.downsample), l,
                        std::min<std::int64_t>(1024, L.width - x), std::min<std::int64_t>(1024, L.height - y));
    }
    ADD_FAILURE() << "no error for truncated " << dst;
  } catch (const SlideError& e) {
    EXPECT_EQ(e.path(), dst);
    EXPECT_FALSE(e.reason().empty());
  }
}

TEST(SlideErrors, TruncatedSlides) {
  PYDMED_REQUIRE_WSI();
  TempDir d;
  expect_truncated_fails(wsi("CMU-1-Small-Region.svs"), d.file("cut.svs"), 0.5);
  expect_truncated_fails(wsi("CMU-1-Small-Region-pyramid.tiff"), d.file("cut.tiff"), 0.6);
  expect_truncated_fails(wsi("test3-DAPI-2-387.ndpi"), d.file("cut.ndpi"), 0.5);
}

// No reader opens a cut Aperio slide. OpenSlide 3.4.1 detects no vendor (it gives no detail
// for that); libtiff says why; the message keeps both, OpenSlide's first, on one line.
TEST(SlideErrors, TruncatedSvsGivesEveryReadersReason) {
  PYDMED_REQUIRE_WSI();
  TempDir d;
  const auto p = d.file("third.svs");
  const std::string bytes = pydmed::test::read_file(wsi("CMU-1-Small-Region.svs"));
  pydmed::test::write_file(p, bytes.substr(0, bytes.size() / 3));
  try {
    Slide s(p);
    ADD_FAILURE() << "a third of a slide opened";
  } catch (const SlideError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(m.rfind(p + ": cannot open: OpenSlide: not a slide format it recognises; libtiff: ", 0), 0u) << m;
    EXPECT_NE(m.find("the first directory is at byte 1275950, past the end of the file (" +
                     std::to_string(bytes.size() / 3) + " bytes): the file is truncated"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("; OpenCV: not tried"), std::string::npos) << m;
  }
}

TEST(SlideErrors, LevelOutOfRangeAndBadSizes) {
  PYDMED_REQUIRE_WSI();
  const auto p = wsi("CMU-1-Small-Region-pyramid.tiff");
  Slide s(p);
  expect_slide_error([&] { s.read_region(0, 0, 5, 10, 10); }, p, "level 5 out of range");
  expect_slide_error([&] { s.read_region(0, 0, -1, 10, 10); }, p, "level -1 out of range");
  expect_slide_error([&] { s.read_region(0, 0, 0, -5, 10); }, p, "must be positive");
  expect_slide_error([&] { s.read_region(0, 0, 0, 10, 0); }, p, "must be positive");
  expect_slide_error([&] { s.read_region(0, 0, 0, 1 << 20, 1 << 20); }, p, "exceeds the limit");
  expect_slide_error([&] { s.read_region(std::int64_t(1) << 62, 0, 0, 10, 10); }, p, "coordinates");
  // Still usable after refused requests.
  EXPECT_EQ(s.read_region(0, 0, 0, 10, 10).total(), 100u);
}

TEST(SlideErrors, RegionFullyOutsideIsBackground) {
  PYDMED_REQUIRE_WSI();
  Slide s(wsi("CMU-1-Small-Region.svs"));
  s.set_background({10, 20, 30});
  const cv::Mat m = s.read_region(100000, 100000, 0, 8, 8);
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(m.data[3 * i], 10);
    ASSERT_EQ(m.data[3 * i + 1], 20);
    ASSERT_EQ(m.data[3 * i + 2], 30);
  }
}

}  // namespace
