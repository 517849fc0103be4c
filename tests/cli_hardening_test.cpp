// The `pydmed` command attacked with bad input, full disks and signals, as a user would.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "damaged_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/heatmap.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using pydmed::test::read_file;
using pydmed::test::run_command;
using pydmed::test::TempDir;
using pydmed::test::write_file;
using pydmed::test::wsi;

namespace {

const std::string kCli = PYDMED_CLI;

std::size_t lines(const std::string& s) { return std::size_t(std::count(s.begin(), s.end(), '\n')); }

// Every line of a TSV whole: ends with a newline, `fields` fields each.
void expect_whole_lines(const std::string& tsv, std::size_t fields) {
  ASSERT_FALSE(tsv.empty());
  EXPECT_EQ(tsv.back(), '\n') << "the last line is cut";
  std::istringstream in(tsv);
  std::string line;
  while (std::getline(in, line)) EXPECT_EQ(std::size_t(std::count(line.begin(), line.end(), '\t')) + 1, fields) << line;
}

TEST(CliHardening, WriteErrorsNameTheFileAndTheReason) {
  PYDMED_REQUIRE_WSI();
  const std::string slide = wsi("CMU-1-Small-Region.svs");
  std::string err;
  // `sh -c`: the redirection to the full device is the command's own standard output.
  EXPECT_EQ(run_command("sh -c '" + kCli + " info " + slide + " > /dev/full'", nullptr, &err), 1);
  EXPECT_EQ(lines(err), 1u) << err;
  EXPECT_NE(err.find("standard output: write failed: No space left on device"), std::string::npos) << err;
  EXPECT_EQ(
      run_command(kCli + " stream " + slide + " --count 300 --patch 64 --bigchunk 512 --out /dev/full", nullptr, &err),
      1);
  EXPECT_NE(err.find("/dev/full: write failed: No space left on device"), std::string::npos) << err;
  EXPECT_EQ(err.find("delivered"), std::string::npos) << "no claim of delivery after a failed write: " << err;
  EXPECT_EQ(run_command(kCli + " sliding-window " + slide + " --kernel 256 --out /dev/full", nullptr, &err), 1);
  EXPECT_NE(err.find("/dev/full: write failed: No space left on device"), std::string::npos) << err;
}

// A file-size limit stands in for a small disk: writes past it fail (EFBIG) as on a full one.
TEST(CliHardening, AFullDiskMidRunIsReportedAndLeavesNoPartialSlide) {
  TempDir t;
  const std::string limited = "sh -c \"trap '' XFSZ; ulimit -f 200; exec " + kCli;  // 100 KiB
  std::string err;
  EXPECT_EQ(run_command(limited + " make-sample-slides " + t.file("s") + " --count 2 --size 3000\"", nullptr, &err), 1);
  EXPECT_EQ(lines(err), 1u) << err;
  EXPECT_NE(err.find(t.file("s/slide_000.tiff.part") + ": writing a tile failed: File too large"), std::string::npos)
      << err;
  for (const auto& e : std::filesystem::directory_iterator(t.file("s"))) ADD_FAILURE() << "left behind: " << e.path();
  PYDMED_REQUIRE_WSI();
  EXPECT_EQ(run_command(limited + " stream " + wsi("CMU-1-Small-Region.svs") +
                            " --count 20000 --patch 32 --bigchunk 512 --out " + t.file("s.tsv") + "\"",
                        nullptr, &err),
            1);
  EXPECT_NE(err.find(t.file("s.tsv") + ": write failed: File too large"), std::string::npos) << err;
  EXPECT_EQ(err.find("delivered"), std::string::npos) << "no claim of delivery: " << err;
  // What reached the disk is whole lines, cut back to the last one the limit let through.
  const std::string tsv = read_file(t.file("s.tsv"));
  EXPECT_GT(tsv.size(), 50000u);
  expect_whole_lines(tsv, 19);
}

TEST(CliHardening, OutputPathsAreCheckedBeforeTheRun) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  const std::string slide = wsi("CMU-1-Small-Region.svs");
  std::string err;
  EXPECT_EQ(
      run_command(kCli + " stream " + slide + " --seconds 600 --out " + t.file("no/such/dir/s.tsv"), nullptr, &err), 1);
  EXPECT_NE(err.find(t.file("no/such/dir/s.tsv") + ": cannot open for writing: No such file or directory"),
            std::string::npos)
      << err;
  write_file(t.file("plain"), "a file where a folder should be");
  EXPECT_EQ(
      run_command(kCli + " sliding-window " + slide + " --heatmap " + t.file("plain/hm") + " --out " + t.file("w.tsv"),
                  nullptr, &err),
      1);
  EXPECT_NE(err.find(t.file("plain/hm") + ": cannot create the folder"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(t.file("w.tsv"))) << "failed before the run";
  // A failed PNG write says why and leaves a symbolic link at --out alone.
  std::filesystem::create_symlink(t.file("no/such/target.png"), t.file("link.png"));
  EXPECT_EQ(run_command(kCli + " read " + slide + " --x 0 --y 0 --width 8 --height 8 --out " + t.file("link.png"),
                        nullptr, &err),
            1);
  EXPECT_NE(err.find("No such file or directory"), std::string::npos) << err;
  EXPECT_TRUE(std::filesystem::is_symlink(t.file("link.png")));
}

TEST(CliHardening, HeatmapOnAFullDiskThrowsWithTheReason) {
  PYDMED_REQUIRE_WSI();
  const pydmed::Slide slide(wsi("CMU-1-Small-Region.svs"));
  const pydmed::Heatmap h = pydmed::Heatmap::from_windows(slide, {{0, 0, 0, 256, 256, {1.0f}}}, 256);
  try {
    h.save_npy("/dev/full");
    FAIL() << "a write to a full device succeeded";
  } catch (const pydmed::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/full: write failed: No space left on device"), std::string::npos)
        << e.what();
  }
}

TEST(CliHardening, AManifestWithoutPatientsIsAnErrorAtOnce) {
  TempDir t;
  write_file(t.file("m.csv"), "patient_id,record:wsi,label:class\n");
  for (const std::string& cmd : {std::string(" stream ") + t.file("m.csv") + " --seconds 60 --interval-resched 60",
                                 std::string(" sliding-window ") + t.file("m.csv")}) {
    std::string err;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(run_command(kCli + cmd, nullptr, &err), 1) << cmd;
    EXPECT_EQ(err, "pydmed: no patients in " + t.file("m.csv") + "\n");
    // Not a timing bound on the code: a command that waited for its 60 s would show here.
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 50.0) << cmd;
  }
}

TEST(CliHardening, FlagsRefuseNegativeAndOutOfRangeValuesNamingTheFlag) {
  PYDMED_REQUIRE_WSI();
  const std::string run = kCli + " stream " + wsi("small.svs") + " ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--count -1", "--count: must be an integer >= 1 (got -1)"},
      {"--count 5 --max-per-bigchunk -1",
       "--max-per-bigchunk: must be an integer from 0 to 18446744073709551615 (got '-1')"},
      {"--count 5 --seed -1", "--seed: must be an integer from 0 to 18446744073709551615 (got '-1')"},
      {"--count 5 --seed 99999999999999999999",
       "--seed: must be an integer from 0 to 18446744073709551615 (got 99999999999999999999, out of range)"},
      {"--count 5 --collectors 0", "--collectors: must be an integer from 1 to 1024 (got 0)"},
      {"--count 5 --interval-resched 0", "--interval-resched: must be a number > 0 (got '0')"},
      {"--count 5 --interval-resched -2", "--interval-resched: must be a number > 0 (got '-2')"},
      {"--seconds nan", "--seconds: must be a number > 0 (got 'nan')"},
      {"--count 5 --patch 300 --bigchunk 256", "--patch 300 is larger than --bigchunk 256"},
      // 1024 collectors with 60000^2 BigChunks: far over half of any machine's memory.
      {"--count 5 --collectors 1024 --bigchunk 60000", "--collectors 1024 with --bigchunk 60000: these options need"},
  };
  for (const auto& [flags, message] : cases) {
    std::string err;
    EXPECT_EQ(run_command(run + flags, nullptr, &err), 2) << flags;
    EXPECT_EQ(lines(err), 1u) << err;
    EXPECT_NE(err.find(message), std::string::npos) << flags << ": " << err;
  }
  std::string err;
  EXPECT_EQ(run_command(kCli + " sliding-window " + wsi("small.svs") + " --stride 0", nullptr, &err), 2);
  EXPECT_NE(err.find("--stride: must be an integer from 1 to 65536 (got 0)"), std::string::npos) << err;
}

TEST(CliHardening, SignalsEndAStreamWithWholeLinesAndASummary) {
  PYDMED_REQUIRE_WSI();
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig == SIGINT ? "SIGINT" : "SIGTERM");
    TempDir t;
    const pid_t pid = pydmed::test::start_command(kCli + " stream " + pydmed::test::wsi_dir() +
                                                  " --seconds 600 --patch 64 --bigchunk 512 --out " + t.file("s.tsv") +
                                                  " 2>" + t.file("err"));
    // Until the run has written something past its header, however slow the machine.
    while (read_file(t.file("s.tsv")).size() < (1u << 20) && waitpid(pid, nullptr, WNOHANG) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(kill(pid, sig), 0) << "the run ended before the signal";
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "killed instead of ending cleanly";
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    const std::string tsv = read_file(t.file("s.tsv")), err = read_file(t.file("err"));
    expect_whole_lines(tsv, 19);
    const std::string summary = "delivered " + std::to_string(lines(tsv) - 1) + " SmallChunks";
    EXPECT_NE(err.find(summary), std::string::npos) << "every written line, and only those, counted: " << err;
    EXPECT_NE(err.find("(interrupted)"), std::string::npos) << err;
  }
}

// Before a run starts (or in a command with nothing to stop) a signal ends the process as it
// normally would, at once, instead of being held until the end.
TEST(CliHardening, ASignalOutsideARunEndsTheProcess) {
  TempDir t;
  const pid_t pid =
      pydmed::test::start_command(kCli + " make-sample-slides " + t.file("s") + " --count 50 --size 3000 2>/dev/null");
  while (!std::filesystem::exists(t.file("s/slide_000.tiff.part")) && waitpid(pid, nullptr, WNOHANG) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0) << "ended before the signal";
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(std::filesystem::exists(t.file("s/slide_049.tiff"))) << "it went on to the end";
  EXPECT_FALSE(std::filesystem::exists(t.file("s/slide_000.tiff.part"))) << "the slide being written went with it";
}

TEST(CliHardening, AFolderScanSkipsWhatItCannotReadAndServesTheRest) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  std::filesystem::create_symlink(wsi("CMU-1-Small-Region.svs"), t.file("good.svs"));
  std::filesystem::create_symlink(t.file("loop.svs"), t.file("loop.svs"));  // a link to itself
  std::string err;
  EXPECT_EQ(
      run_command(kCli + " stream " + t.path() + " --count 100 --patch 64 --bigchunk 512 --out " + t.file("s.tsv"),
                  nullptr, &err),
      1);
  EXPECT_NE(err.find("skipped: " + t.file("loop.svs") + ": Too many levels of symbolic links"), std::string::npos)
      << err;
  EXPECT_NE(err.find("delivered 100 SmallChunks"), std::string::npos) << err;
  EXPECT_EQ(lines(read_file(t.file("s.tsv"))), 101u);
  // With nothing readable left, the error says why.
  std::filesystem::remove(t.file("good.svs"));
  std::filesystem::remove(t.file("s.tsv"));
  EXPECT_EQ(run_command(kCli + " stream " + t.path() + " --count 100", nullptr, &err), 1);
  EXPECT_EQ(err, "pydmed: " + t.path() + ": no readable slides in the folder: " + t.file("loop.svs") +
                     ": Too many levels of symbolic links\n");
}

TEST(CliHardening, ASlideGivenAsSourceIsOnePatient) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  std::string err;
  // A slide whose name says nothing: recognised by its TIFF signature, not parsed as a CSV.
  std::filesystem::create_symlink(wsi("CMU-1-Small-Region.svs"), t.file("scan_0001"));
  for (const std::string& slide : {wsi("CMU-1-Small-Region.svs"), t.file("scan_0001")}) {
    ASSERT_EQ(run_command(kCli + " stream " + slide + " --count 50 --patch 64 --bigchunk 512 --out " + t.file("s.tsv"),
                          nullptr, &err),
              0)
        << err;
    const std::string tsv = read_file(t.file("s.tsv"));
    EXPECT_EQ(lines(tsv), 51u);
    std::istringstream in(tsv);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) EXPECT_EQ(line.substr(0, 2), "0\t") << line;
  }
}

TEST(CliHardening, ADamagedTileCostsOnlyTheWindowsOverIt) {
  const pydmed::test::DamagedSlide s({{3, 2}});  // level-0 pixels 768-1023 x 512-767
  TempDir t;
  std::string err;
  EXPECT_EQ(run_command(kCli + " sliding-window " + s.damaged + " --kernel 256 --stride 256 --out " + t.file("w.tsv"),
                        nullptr, &err),
            1);
  // 8 x 6 windows of 256: one lies on the damaged tile; it is named, the 47 others are served.
  EXPECT_EQ(lines(read_file(t.file("w.tsv"))), 1u + 47u);
  EXPECT_NE(err.find("skipped: patient 0 window at (768, 512) level 0: window over a damaged tile: " + s.damaged),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("error:"), std::string::npos) << "the slide itself did not fail: " << err;
}

}  // namespace
