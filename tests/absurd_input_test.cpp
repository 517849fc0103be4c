// Input that is wrong in a way a parser accepts (issue 21): resolutions no microscope has, a
// 72-dpi picture's tags read as a scan's, a manifest through a pipe, a folder where a file
// belongs. Each gets one line that says what is wrong, or is read as the user meant it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "pydmed/error.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using pydmed::test::read_file;
using pydmed::test::run_command;
using pydmed::test::TempDir;
using pydmed::test::write_file;

namespace {

const std::string kCli = PYDMED_CLI;

std::size_t lines(const std::string& s) { return std::size_t(std::count(s.begin(), s.end(), '\n')); }

std::size_t count_of(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::vector<std::string> sorted_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(AbsurdInput, ResolutionsNoMicroscopeHasAreRefusedInOneLine) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 1);
  const std::string slide = t.file("s/slide_000.tiff");
  std::string out, err;
  for (const std::string flag : {"--mpp 1e20", "--mpp 1e-9", "--slide-mpp 1e-300", "--magnification 1e9"}) {
    SCOPED_TRACE(flag);
    EXPECT_EQ(
        run_command(kCli + " read " + slide + " --x 0 --y 0 --width 8 --height 8 " + flag + " --out " + t.file("r.png"),
                    &out, &err),
        2);
    EXPECT_EQ(lines(err), 1u) << err;
    EXPECT_NE(err.find(" from 0.01 to 1000"), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(t.file("r.png")));
  }
  EXPECT_EQ(run_command(kCli + " tissue " + slide + " --size 16384 --out " + t.file("m.png"), &out, &err), 2)
      << "a mask that would take gigabytes";
  EXPECT_NE(err.find("--size: must be an integer from 16 to 4096"), std::string::npos) << err;
  EXPECT_EQ(run_command(kCli + " sliding-window " + slide + " --mpp 1e20 --kernel 64", &out, &err), 2);
  EXPECT_TRUE(out.empty()) << "no 1 x 1 regions";
  // A target at which the whole slide (1024 pixels at 0.5 um/px) is smaller than one patch.
  for (const std::string& c :
       {kCli + " read " + slide + " --x 0 --y 0 --width 224 --height 224 --mpp 100 --out " + t.file("r.png"),
        kCli + " sliding-window " + slide + " --mpp 100 --kernel 224",
        kCli + " stream " + slide + " --mpp 100 --patch 224 --count 5"}) {
    SCOPED_TRACE(c);
    EXPECT_EQ(run_command(c, &out, &err), 1);
    EXPECT_EQ(count_of(err, "the whole slide is 5 x 5 pixels at 100 um/px, smaller than one 224 x 224 patch"), 1u)
        << err;
  }
  // A manifest's mpp column, and the API.
  write_file(t.file("m.csv"), "patient_id,record:wsi,mpp:wsi\n0," + slide + ",1e-300\n");
  EXPECT_EQ(run_command(kCli + " stream " + t.file("m.csv") + " --count 5 --patch 64 --bigchunk 256", &out, &err), 1);
  EXPECT_NE(err.find("'1e-300' is not microns per pixel from 0.01 to 1000"), std::string::npos) << err;
  pydmed::Slide s(slide);
  EXPECT_THROW(s.set_mpp(2000, 2000), pydmed::SlideError);
  try {
    (void)s.read_region_at_mpp(0, 0, 1e-9, 8, 8);
    ADD_FAILURE() << "read at 1e-9 um/px";
  } catch (const pydmed::SlideError& e) {
    EXPECT_NE(std::string(e.what()).find("target mpp 1e-09 "), std::string::npos) << "significant digits: " << e.what();
  }
}

// Resolution tags in inches are a picture's dots per inch, not a scan's scale: a 72-dpi TIFF
// has no mpp (not 352.8 um/px), so --slide-mpp supplies one.
TEST(AbsurdInput, ATiffInInchesHasNoMppAndSlideMppGivesIt) {
  TempDir t;
  const cv::Mat img(256, 256, CV_8UC3, cv::Scalar(120, 80, 200));
  ASSERT_TRUE(cv::imwrite(t.file("dpi.tif"), img,
                          {cv::IMWRITE_TIFF_RESUNIT, 2, cv::IMWRITE_TIFF_XDPI, 72, cv::IMWRITE_TIFF_YDPI, 72}));
  const pydmed::Slide s(t.file("dpi.tif"));
  ASSERT_EQ(s.properties().at("tiff.ResolutionUnit"), "inch") << "the picture carries the tags";
  EXPECT_FALSE(s.mpp_x().has_value());
  std::string out, err;
  EXPECT_EQ(run_command(kCli + " read " + t.file("dpi.tif") + " --x 0 --y 0 --width 64 --height 64 --mpp 1 --out " +
                            t.file("a.png"),
                        &out, &err),
            1);
  EXPECT_NE(err.find("no microns-per-pixel"), std::string::npos) << err;
  EXPECT_EQ(run_command(kCli + " read " + t.file("dpi.tif") +
                            " --x 0 --y 0 --width 64 --height 64 --mpp 1 --slide-mpp 0.5 --out " + t.file("a.png"),
                        &out, &err),
            0)
      << err;
  EXPECT_EQ(cv::imread(t.file("a.png")).cols, 64);
}

TEST(AbsurdInput, MessagesSayWhatIsWrong) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  fs::create_directory(t.file("roi_dir"));
  try {
    (void)pydmed::Annotations::read(t.file("roi_dir"));
    ADD_FAILURE() << "a folder read as annotations";
  } catch (const pydmed::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a folder, not a GeoJSON file"), std::string::npos) << e.what();
  }
  // A manifest through a pipe (process substitution) is read as the file would be; its relative
  // paths are the working folder's.
  std::string out, err, direct;
  ASSERT_EQ(run_command(kCli + " sliding-window " + t.file("s/manifest.csv") + " --kernel 256", &direct, &err), 0)
      << err;
  ASSERT_EQ(
      run_command("bash -c 'cd " + t.file("s") + " && " + kCli + " sliding-window <(cat manifest.csv) --kernel 256'",
                  &out, &err),
      0)
      << err;
  EXPECT_EQ(sorted_lines(out), sorted_lines(direct)) << "the same windows (the two slides interleave as they come)";
}

}  // namespace

namespace {

// An annotation file with no polygon under --roi include serves nothing, not the whole slide.
TEST(AbsurdInput, AnnotationsWithoutAPolygonServeNothing) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 1);
  const std::string slide = t.file("s/slide_000.tiff");
  std::string out, err;
  for (const std::string roi : {R"({"type":"FeatureCollection","features":[]})", "[]",
                                R"([{"type":"Feature","geometry":{"type":"Point","coordinates":[5,5]}}])"}) {
    SCOPED_TRACE(roi);
    write_file(t.file("s/slide_000.geojson"), roi);
    EXPECT_EQ(run_command(kCli + " stream " + slide + " --count 5 --patch 64 --bigchunk 256", &out, &err), 1);
    EXPECT_NE(err.find("slide_000.geojson: no polygon to serve patches from"), std::string::npos) << err;
    EXPECT_EQ(count_of(out, "\n"), 0u) << "no patch served";
    EXPECT_EQ(run_command(kCli + " sliding-window " + slide + " --kernel 256", &out, &err), 1);
    EXPECT_EQ(count_of(out, "\n"), 0u) << "no window served";
    // Exclude: nothing excluded, the whole slide.
    EXPECT_EQ(run_command(kCli + " sliding-window " + slide + " --kernel 256 --roi exclude", &out, &err), 0) << err;
    EXPECT_EQ(count_of(out, "\n"), 1u + 25u);
  }
  // A ring of 4 identical positions, and one on a line, enclose nothing.
  for (const std::string ring : {"[[5,5],[5,5],[5,5],[5,5]]", "[[0,0],[10,10],[20,20],[0,0]]"}) {
    write_file(t.file("s/slide_000.geojson"),
               R"({"type":"Feature","geometry":{"type":"Polygon","coordinates":[)" + ring + "]}}");
    EXPECT_EQ(run_command(kCli + " stream " + slide + " --count 5 --patch 64 --bigchunk 256", &out, &err), 1);
    EXPECT_NE(err.find("slide_000.geojson: feature 0: a ring"), std::string::npos) << err;
  }
  // Wholly outside the slide: an error in sliding-window too, not 0 windows and exit 0.
  write_file(
      t.file("s/slide_000.geojson"),
      R"({"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[5000,5000],[6000,5000],[6000,6000]]]}})");
  EXPECT_EQ(run_command(kCli + " sliding-window " + slide + " --kernel 256", &out, &err), 1);
  EXPECT_EQ(count_of(err, "the annotations lie outside the slide"), 1u) << "once, not once a retry: " << err;
}

// What retrying cannot fix is said once per patient, and a patient whose file is missing is
// named before the run, however short the run.
TEST(AbsurdInput, DeterministicErrorsAreOneLineEach) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  cv::imwrite(t.file("plain.png"), cv::Mat(600, 600, CV_8UC3, cv::Scalar(50, 100, 150)));  // no mpp
  std::string out, err;
  // Set aside at the first failure: the run ends (nothing left to serve), one line said.
  EXPECT_EQ(run_command("timeout 120 " + kCli + " stream " + t.file("plain.png") +
                            " --mpp 1 --count 100 --patch 32 --bigchunk 256",
                        &out, &err),
            1);
  EXPECT_EQ(count_of(err, "no microns-per-pixel"), 1u) << err;
  EXPECT_EQ(count_of(err, "error: "), 1u) << err;
  EXPECT_EQ(count_of(err, "(set aside: retrying cannot fix it)"), 1u) << err;
  EXPECT_EQ(run_command("timeout 120 " + kCli + " sliding-window " + t.file("plain.png") + " --mpp 1 --kernel 64", &out,
                        &err),
            1);
  EXPECT_EQ(count_of(err, "no microns-per-pixel"), 1u) << err;
  write_file(t.file("m.csv"), "patient_id,record:wsi\n0,s/slide_000.tiff\n1,s/missing.tiff\n");
  for (int run = 0; run < 3; ++run) {
    EXPECT_EQ(run_command(kCli + " stream " + t.file("m.csv") + " --count 5 --patch 32 --bigchunk 256", &out, &err), 1);
    EXPECT_NE(err.find("skipped: patient 1: " + t.file("s/missing.tiff") + ": No such file or directory"),
              std::string::npos)
        << err;
  }
}

}  // namespace
