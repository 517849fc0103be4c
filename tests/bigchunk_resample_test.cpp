// Patches at a physical resolution cut from BigChunks resampled once (issue 22): the TSV of
// `pydmed stream` says enough to recompute every patch from OpenSlide's C API and OpenCV alone.
#include <gtest/gtest.h>
#include <openslide.h>
#include <zlib.h>

#include <cmath>
#include <map>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "slide/argb.hpp"
#include "support.hpp"

using pydmed::test::read_file;
using pydmed::test::run_command;
using pydmed::test::TempDir;
using pydmed::test::wsi;

namespace {

const std::string kCli = PYDMED_CLI;

// Rows of a TSV as maps from the header's names, empty fields kept.
std::vector<std::map<std::string, std::string>> rows_of(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> names;
  std::vector<std::map<std::string, std::string>> rows;
  auto split = [](const std::string& l) {
    std::vector<std::string> f;
    std::size_t at = 0;
    for (std::size_t tab; (tab = l.find('\t', at)) != std::string::npos; at = tab + 1)
      f.push_back(l.substr(at, tab - at));
    f.push_back(l.substr(at));
    return f;
  };
  if (std::getline(in, line)) names = split(line);
  while (std::getline(in, line)) {
    const auto f = split(line);
    EXPECT_EQ(f.size(), names.size()) << line;
    std::map<std::string, std::string> r;
    for (std::size_t i = 0; i < f.size() && i < names.size(); ++i) r[names[i]] = f[i];
    rows.push_back(std::move(r));
  }
  return rows;
}

using Osr = std::unique_ptr<openslide_t, decltype(&openslide_close)>;

// OpenSlide's region as RGB, transparent pixels white (the project's contract).
cv::Mat openslide_rgb(openslide_t* osr, std::int64_t x, std::int64_t y, int level, int w, int h) {
  std::vector<std::uint32_t> argb(std::size_t(w) * std::size_t(h));
  openslide_read_region(osr, argb.data(), x, y, level, w, h);
  EXPECT_EQ(openslide_get_error(osr), nullptr);
  cv::Mat rgb(h, w, CV_8UC3);
  pydmed::argb_to_rgb(argb.data(), rgb.data, argb.size(), pydmed::Rgb{255, 255, 255});
  return rgb;
}

// Each checked row: OpenSlide's read_region of the BigChunk rectangle, resized to the BigChunk's
// target size with OpenCV's INTER_AREA, cropped at (x_in_bigchunk, y_in_bigchunk): its CRC-32 is
// the patch's. Two vendors (Hamamatsu NDPI, Aperio SVS) and a manifest's mpp override.
TEST(BigChunkResample, EveryPatchIsTheCropOfItsResampledBigChunk) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  // Each slide in a run of its own (a manifest of one row), so that every one is checked
  // whatever the swaps do on a loaded machine. The level each is read at: the NDPI (0.228 um/px
  // in 2x steps) level 2 (0.91); the SVS (0.499) level 0; the TIFF pyramid at the manifest's
  // 0.3 um/px, level 1 (0.6).
  const struct {
    std::string file, mpp, level;
  } slides[] = {{wsi("test3-DAPI-2-387.ndpi"), "", "2"},
                {wsi("CMU-1-Small-Region.svs"), "", "0"},
                {wsi("CMU-1-Small-Region-pyramid.tiff"), "0.3", "1"}};
  for (const auto& s : slides) {
    SCOPED_TRACE(s.file);
    pydmed::test::write_file(t.file("m.csv"), "patient_id,record:wsi,mpp:wsi\n0," + s.file + "," + s.mpp + "\n");
    std::string err;
    ASSERT_EQ(run_command(kCli + " stream " + t.file("m.csv") + " --mpp 1.0 --count 200 --patch 64 --bigchunk 512" +
                              " --max-per-bigchunk 20 --out " + t.file("s.tsv"),
                          nullptr, &err),
              0)
        << err;
    const auto rows = rows_of(read_file(t.file("s.tsv")));
    ASSERT_EQ(rows.size(), 200u);
    const Osr osr(openslide_open(s.file.c_str()), &openslide_close);
    ASSERT_TRUE(osr);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      SCOPED_TRACE("row " + std::to_string(i + 1));
      EXPECT_EQ(r.at("resample"), "bigchunk");
      EXPECT_EQ(r.at("mpp"), "1");
      EXPECT_EQ(r.at("level"), s.level);
      const int bw = std::stoi(r.at("bigchunk_width")), bh = std::stoi(r.at("bigchunk_height"));
      const int tw = std::stoi(r.at("bigchunk_target_width")), th = std::stoi(r.at("bigchunk_target_height"));
      const int xi = std::stoi(r.at("x_in_bigchunk")), yi = std::stoi(r.at("y_in_bigchunk"));
      EXPECT_LE(bw, 512);
      EXPECT_LT(tw, bw) << "1 um/px is coarser than every level read";
      EXPECT_TRUE(xi >= 0 && yi >= 0 && xi + 64 <= tw && yi + 64 <= th);
      // The patch's footprint in level pixels, rounded: 64 target pixels through the BigChunk's ratio.
      EXPECT_EQ(std::stoi(r.at("width")), int(std::lround(64.0 * bw / tw)));
      if (i % 7 != 0) continue;
      const cv::Mat read = openslide_rgb(osr.get(), std::stoll(r.at("bigchunk_x")), std::stoll(r.at("bigchunk_y")),
                                         std::stoi(r.at("level")), bw, bh);
      cv::Mat resampled;
      cv::resize(read, resampled, cv::Size(tw, th), 0, 0, cv::INTER_AREA);
      const cv::Mat patch = resampled(cv::Rect(xi, yi, 64, 64)).clone();
      EXPECT_EQ(std::to_string(crc32(crc32(0L, Z_NULL, 0), patch.data, uInt(patch.total() * 3))), r.at("crc32"));
    }
  }
}

// --resample patch keeps the older contract (each patch its own region resized alone); a
// BigChunk whose target size is smaller than the patch is refused for that slide, in one line.
TEST(BigChunkResample, PatchModeAndTheOneCheckPerSlide) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  std::string err;
  const std::string slide = wsi("CMU-1-Small-Region.svs");
  ASSERT_EQ(run_command(kCli + " stream " + slide + " --mpp 0.75 --resample patch --count 50 --patch 64 " +
                            "--bigchunk 512 --out " + t.file("p.tsv"),
                        nullptr, &err),
            0)
      << err;
  const Osr osr(openslide_open(slide.c_str()), &openslide_close);
  for (const auto& r : rows_of(read_file(t.file("p.tsv")))) {
    EXPECT_EQ(r.at("resample"), "patch");
    EXPECT_EQ(r.at("bigchunk_target_width"), r.at("bigchunk_width"));
    EXPECT_EQ(r.at("width"), "96");  // 64 at 0.75 from 0.499: round(64 x 1.503)
    cv::Mat m;
    cv::resize(openslide_rgb(osr.get(), std::stoll(r.at("x")), std::stoll(r.at("y")), 0, 96, 96), m, cv::Size(64, 64),
               0, 0, cv::INTER_AREA);
    EXPECT_EQ(std::to_string(crc32(crc32(0L, Z_NULL, 0), m.data, uInt(m.total() * 3))), r.at("crc32"));
  }
  // 300 level pixels are 199 at 0.75 um/px: no room for a 224-pixel patch.
  EXPECT_EQ(run_command(kCli + " stream " + slide + " --mpp 0.75 --count 5 --patch 224 --bigchunk 300", nullptr, &err),
            1);
  EXPECT_NE(err.find("a BigChunk of 300 x 300 pixels of level 0 is 199 x 199 pixels at 0.75 um/px, smaller than "
                     "the 224 x 224 patch"),
            std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 3) << "the summary, the patient, one error: " << err;
}

}  // namespace
