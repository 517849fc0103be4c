// No command destroys data (issue 21): an output never replaces an input or its own state, a
// state that cannot be written leaves the output alone, two runs on one output or state are
// refused, a slide replaced between stops is refused, a finished state ends at once, and a
// folder scan keeps its paths as listed and is not fooled by the project's own pictures.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "pydmed/data/source.hpp"
#include "pydmed/error.hpp"
#include "pydmed/file_identity.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/run_lock.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using pydmed::test::read_file;
using pydmed::test::run_command;
using pydmed::test::TempDir;
using pydmed::test::write_file;

namespace {

const std::string kCli = PYDMED_CLI;

TEST(DataSafety, SameFileComparesIdentityNotSpelling) {
  TempDir t;
  write_file(t.file("o.tsv"), "x\n");
  fs::create_symlink(t.file("o.tsv"), t.file("link.tsv"));
  fs::create_symlink(t.file("later.tsv"), t.file("dangling.tsv"));
  EXPECT_TRUE(pydmed::same_file(t.file("o.tsv"), t.path() + "/./o.tsv"));
  EXPECT_TRUE(pydmed::same_file(t.file("o.tsv"), t.file("link.tsv")));
  EXPECT_TRUE(pydmed::same_file(t.file("later.tsv"), t.file("dangling.tsv"))) << "a write through the link lands there";
  EXPECT_TRUE(pydmed::same_file(t.file("new.tsv"), t.path() + "/sub/../new.tsv"));
  EXPECT_FALSE(pydmed::same_file(t.file("o.tsv"), t.file("p.tsv")));
}

TEST(DataSafety, AnUnusableStateLeavesTheOutputAsItWas) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  const std::string keep = "patient\tx\n1\t2\n";
  write_file(t.file("keep.tsv"), keep);
  std::string out, err;
  EXPECT_EQ(run_command(kCli + " sliding-window " + t.file("s") + " --kernel 256 --out " + t.file("keep.tsv") +
                            " --state " + t.file("nodir/s.json"),
                        &out, &err),
            1);
  EXPECT_NE(err.find("nodir"), std::string::npos) << err;
  EXPECT_EQ(read_file(t.file("keep.tsv")), keep);
  // A state that is a folder: said so, and the output untouched too.
  fs::create_directory(t.file("dir.json"));
  EXPECT_EQ(run_command(kCli + " sliding-window " + t.file("s") + " --kernel 256 --out " + t.file("keep.tsv") +
                            " --state " + t.file("dir.json"),
                        &out, &err),
            1);
  EXPECT_NE(err.find("is a folder"), std::string::npos) << err;
  EXPECT_EQ(read_file(t.file("keep.tsv")), keep);
}

TEST(DataSafety, TheStateCannotBeTheOutputByAnyName) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 1);
  fs::create_symlink(t.file("o.tsv"), t.file("link.json"));
  for (const std::string state : {t.path() + "/./o.tsv", t.file("link.json")}) {
    SCOPED_TRACE(state);
    write_file(t.file("o.tsv"), "keep\n");
    std::string out, err;
    EXPECT_NE(run_command(kCli + " sliding-window " + t.file("s") + " --kernel 256 --out " + t.file("o.tsv") +
                              " --state " + state,
                          &out, &err),
              0);
    EXPECT_NE(err.find("--state"), std::string::npos) << err;
    EXPECT_EQ(read_file(t.file("o.tsv")), "keep\n");
  }
}

TEST(DataSafety, AnOutputThatIsAnInputIsRefused) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  const std::string slide = t.file("s/slide_000.tiff"), manifest = t.file("s/manifest.csv");
  cv::imwrite(t.file("v.png"), cv::Mat(64, 64, CV_8UC3, cv::Scalar(200, 100, 50)));
  fs::create_symlink(slide, t.file("alias.tiff"));
  const std::string slide_bytes = read_file(slide), manifest_bytes = read_file(manifest),
                    png_bytes = read_file(t.file("v.png"));
  const std::vector<std::string> commands = {
      kCli + " read " + slide + " --x 0 --y 0 --width 16 --height 16 --out " + slide,
      kCli + " read " + slide + " --x 0 --y 0 --width 16 --height 16 --out " + t.file("alias.tiff"),
      kCli + " tissue " + t.file("v.png") + " --out " + t.file("v.png"),
      kCli + " sliding-window " + manifest + " --kernel 256 --out " + manifest,
      kCli + " sliding-window " + t.file("s") + " --kernel 256 --out " + t.file("s/./slide_001.tiff"),
      kCli + " stream " + slide + " --count 5 --patch 64 --bigchunk 256 --out " + slide,
      kCli + " stream " + slide + " --count 5 --patch 64 --bigchunk 256 --out " + t.file("o.tsv") + " --state " + slide,
  };
  for (const std::string& c : commands) {
    SCOPED_TRACE(c);
    std::string out, err;
    EXPECT_EQ(run_command(c, &out, &err), 2);
    EXPECT_NE(err.find("is an input of this run"), std::string::npos) << err;
  }
  EXPECT_EQ(read_file(slide), slide_bytes);
  EXPECT_EQ(read_file(manifest), manifest_bytes);
  EXPECT_EQ(read_file(t.file("v.png")), png_bytes);
  std::string out, err;
  EXPECT_EQ(run_command(kCli + " tissue " + slide + " --out " + t.file("m.png") + " --geojson " + t.file("m.png"), &out,
                        &err),
            2);
  EXPECT_NE(err.find("is the same file as --out"), std::string::npos) << err;
}

TEST(DataSafety, MakeSampleSlidesReplacesFilesOnlyWithForce) {
  TempDir t;
  fs::create_directory(t.file("s"));
  write_file(t.file("s/slide_001.tiff"), "the user's own\n");
  std::string out, err;
  EXPECT_EQ(run_command(kCli + " make-sample-slides " + t.file("s") + " --count 2 --size 512", &out, &err), 2);
  EXPECT_NE(err.find("slide_001.tiff: already exists"), std::string::npos) << err;
  EXPECT_EQ(read_file(t.file("s/slide_001.tiff")), "the user's own\n");
  EXPECT_FALSE(fs::exists(t.file("s/slide_000.tiff"))) << "refused before writing anything";
  EXPECT_EQ(run_command(kCli + " make-sample-slides " + t.file("s") + " --count 2 --size 512 --force", &out, &err), 0)
      << err;
  EXPECT_NE(read_file(t.file("s/slide_001.tiff")), "the user's own\n");
}

TEST(DataSafety, ASecondRunOnTheSameStateOrOutputIsRefused) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  const std::string run = kCli + " stream " + t.file("s") + " --seconds 600 --patch 64 --bigchunk 256 --out ";
  const pid_t first =
      pydmed::test::start_command(run + t.file("o.tsv") + " --state " + t.file("st.json") + " 2>" + t.file("err"));
  // Until the first run has committed its fresh state.
  while (!fs::exists(t.file("st.json")) && waitpid(first, nullptr, WNOHANG) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(t.file("st.json"))) << read_file(t.file("err"));
  std::string out, err;
  // The same command; the same state with another output; the same output with no state.
  EXPECT_EQ(run_command(run + t.file("o.tsv") + " --state " + t.file("st.json"), &out, &err), 1);
  EXPECT_NE(err.find("in use by another run"), std::string::npos) << err;
  EXPECT_EQ(run_command(run + t.file("other.tsv") + " --state " + t.file("st.json"), &out, &err), 1);
  EXPECT_NE(err.find("st.json: in use by another run (process " + std::to_string(first) + ")"), std::string::npos)
      << err;
  EXPECT_EQ(run_command(run + t.file("o.tsv"), &out, &err), 1);
  EXPECT_NE(err.find("o.tsv: in use by another run"), std::string::npos) << err;
  ASSERT_EQ(kill(first, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(first, &status, 0), first);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << read_file(t.file("err"));
  EXPECT_FALSE(fs::exists(t.file("st.json.lock"))) << "the lock goes with its run";
  // Its rows are whole and its own: the refused runs wrote nothing into them.
  const std::string tsv = read_file(t.file("o.tsv"));
  ASSERT_FALSE(tsv.empty());
  EXPECT_EQ(tsv.back(), '\n');
  EXPECT_EQ(tsv.find("patient", 1), std::string::npos) << "one header: no second run started it again";
}

TEST(DataSafety, ALockIsFreedWhenItsProcessIsKilled) {
  TempDir t;
  const pid_t child = fork();
  if (child == 0) {
    pydmed::RunLock l = pydmed::RunLock::beside(t.file("st.json"));
    pause();
    _exit(0);
  }
  while (!fs::exists(t.file("st.json.lock"))) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Until the child holds it (the file exists a moment before the lock is taken).
  for (;;) {
    try {
      pydmed::RunLock probe = pydmed::RunLock::beside(t.file("st.json"));
    } catch (const pydmed::Error&) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // SIGKILL left the file behind, not the lock: the next run takes it.
  EXPECT_NO_THROW(pydmed::RunLock::beside(t.file("st.json")));
}

TEST(DataSafety, ASlideReplacedBetweenStopsIsRefusedNamingIt) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  pydmed::test::make_sample_slides(t.file("other"), 2, 1024, 7);
  const std::string run = kCli + " sliding-window " + t.file("s") + " --kernel 128 --out " + t.file("o.tsv") +
                          " --state " + t.file("st.json");
  std::string out, err;
  ASSERT_EQ(run_command(run, &out, &err), 0) << err;
  const std::string tsv = read_file(t.file("o.tsv"));
  fs::copy_file(t.file("other/slide_001.tiff"), t.file("s/slide_001.tiff"), fs::copy_options::overwrite_existing);
  EXPECT_EQ(run_command(run, &out, &err), 1);
  EXPECT_NE(err.find("slide_001.tiff: changed since the run's state"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(read_file(t.file("o.tsv")), tsv);
}

// A finished run started again ends at once (exit 0), its output untouched: for a loader whose
// every patient is finished, nothing is left to wait for. `timeout` turns a hang into a failure.
TEST(DataSafety, AFinishedStateEndsAtOnce) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  std::string out, err;
  const std::string sw = kCli + " sliding-window " + t.file("s") + " --kernel 128 --out " + t.file("o.tsv") +
                         " --state " + t.file("st.json");
  ASSERT_EQ(run_command(sw, &out, &err), 0) << err;
  const std::string tsv = read_file(t.file("o.tsv"));
  EXPECT_EQ(run_command("timeout 120 " + sw, &out, &err), 0) << err;
  EXPECT_EQ(read_file(t.file("o.tsv")), tsv);
  const std::string stream = kCli + " stream " + t.file("s") + " --count 100 --patch 64 --bigchunk 256 --out " +
                             t.file("p.tsv") + " --state " + t.file("sp.json");
  ASSERT_EQ(run_command(stream, &out, &err), 0) << err;
  const std::string rows = read_file(t.file("p.tsv"));
  EXPECT_EQ(run_command("timeout 120 " + stream, &out, &err), 0) << err;
  EXPECT_EQ(read_file(t.file("p.tsv")), rows);
}

// A state saved under other rules (version 1: before the tissue mask's background floor) would
// resume over other windows: refused in one line, the output untouched. (Version 3 since issue 23
// gave every state one layout.)
TEST(DataSafety, AStateOfAnotherVersionIsRefused) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 1);
  const std::string run = kCli + " sliding-window " + t.file("s") + " --kernel 256 --out " + t.file("o.tsv") +
                          " --state " + t.file("st.json");
  std::string out, err;
  ASSERT_EQ(run_command(run, &out, &err), 0) << err;
  std::string state = read_file(t.file("st.json"));
  const std::size_t at = state.find("\"version\":3");
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, 11, "\"version\":1");
  write_file(t.file("st.json"), state);
  const std::string tsv = read_file(t.file("o.tsv"));
  EXPECT_EQ(run_command(run, &out, &err), 1);
  EXPECT_NE(err.find("st.json: saved by another pydmed (state version 1, this one reads 3"), std::string::npos) << err;
  EXPECT_EQ(read_file(t.file("o.tsv")), tsv);
}

TEST(DataSafety, AFolderScanKeepsLinkedSlidesAsListed) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("elsewhere"), 2);
  fs::create_directory(t.file("d"));
  // Listed a, b; their targets sort the other way round.
  fs::create_symlink(t.file("elsewhere/slide_001.tiff"), t.file("d/a.tiff"));
  fs::create_symlink(t.file("elsewhere/slide_000.tiff"), t.file("d/b.tiff"));
  write_file(t.file("d/a.geojson"), R"({"type":"FeatureCollection","features":[]})");
  const pydmed::Dataset ds = pydmed::dataset_from_source(t.file("d"));
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(fs::path(ds.patient(0).record("wsi").path()), fs::path(t.file("d")) / "a.tiff");
  EXPECT_EQ(fs::path(ds.patient(1).record("wsi").path()), fs::path(t.file("d")) / "b.tiff");
  EXPECT_EQ(ds.patient(0).record("wsi").dict_infos.value("roi", ""), fs::absolute(t.file("d/a.geojson")).string());
}

TEST(DataSafety, AFolderScanSkipsTheProjectsOwnPictures) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  const cv::Mat picture(32, 48, CV_8UC3, cv::Scalar(0, 0, 255));
  pydmed::write_image(t.file("s/coverage_0.png"), picture);  // what coverage and heatmaps write
  pydmed::write_image(t.file("s/heat.jpg"), picture);        // a user may ask for a JPEG
  cv::imwrite(t.file("s/zz_user.png"), picture);             // a user's PNG stays a slide
  const cv::Mat back = cv::imread(t.file("s/coverage_0.png"));
  ASSERT_EQ(back.size(), picture.size()) << "the mark keeps the PNG readable";
  EXPECT_EQ(cv::norm(back, picture, cv::NORM_INF), 0);
  EXPECT_EQ(cv::imread(t.file("s/heat.jpg")).size(), picture.size()) << "and the JPEG";
  const pydmed::Dataset ds = pydmed::dataset_from_source(t.file("s"));
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(fs::path(ds.patient(0).record("wsi").path()).filename(), "slide_000.tiff");
  EXPECT_EQ(fs::path(ds.patient(1).record("wsi").path()).filename(), "slide_001.tiff");
  EXPECT_EQ(fs::path(ds.patient(2).record("wsi").path()).filename(), "zz_user.png");
}

}  // namespace
