// Long runs show where they are (issue 28): not on a terminal, a plain line per finished slide
// (its windows as written) and no carriage return; on a terminal, one live line cleared before
// the summary; --quiet drops both; --progress-json ends with the counts delivered. The data
// outputs stay clean either way.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "progress.hpp"
#include "support.hpp"

using pydmed::test::read_file;
using pydmed::test::run_command;
using pydmed::test::TempDir;

namespace {

const std::string kCli = PYDMED_CLI;

// Rows of a TSV (header skipped) per patient id.
std::map<std::string, int> rows_per_patient(const std::string& tsv) {
  std::map<std::string, int> n;
  std::istringstream in(tsv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) ++n[line.substr(0, line.find('\t'))];
  return n;
}

TEST(Progress, NotOnATerminalALinePerFinishedSlide) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " sliding-window " + t.file("s") + " --kernel 64 --stride 64 --out " + t.file("w.tsv") +
                            " --progress-json " + t.file("p.json"),
                        &out, &err),
            0)
      << err;
  const auto rows = rows_per_patient(read_file(t.file("w.tsv")));
  for (int p = 0; p < 2; ++p) {
    const std::string want = "finished " + t.file("s/slide_00" + std::to_string(p) + ".tiff") + ": " +
                             std::to_string(rows.at(std::to_string(p))) + " windows in ";
    EXPECT_NE(err.find(want), std::string::npos) << want << "\n" << err;
  }
  EXPECT_EQ(err.find('\r'), std::string::npos) << "no carriage return in a log";
  EXPECT_NE(err.find("delivered 512 windows from 2 slides"), std::string::npos) << err;
  const auto j = nlohmann::json::parse(read_file(t.file("p.json")));
  EXPECT_EQ(j["slides_done"], 2);
  EXPECT_EQ(j["slides_total"], 2);
  EXPECT_EQ(j["items_done"], 512);
  for (const char* key : {"items_total", "rate_per_s", "elapsed_s", "eta_s", "current"}) EXPECT_TRUE(j.contains(key));
  // --quiet: the summary only; the TSV the same either way.
  const std::string tsv = read_file(t.file("w.tsv"));
  ASSERT_EQ(run_command(kCli + " sliding-window " + t.file("s") + " --kernel 64 --stride 64 --quiet", &out, &err), 0);
  EXPECT_EQ(err.find("finished "), std::string::npos) << err;
  EXPECT_NE(err.find("delivered 512 windows"), std::string::npos) << err;
  EXPECT_EQ(rows_per_patient(out), rows_per_patient(tsv)) << "progress never reaches the data";
  // stream: patches of --count.
  ASSERT_EQ(run_command(kCli + " stream " + t.file("s") + " --count 300 --patch 64 --bigchunk 512 --out " +
                            t.file("p.tsv") + " --progress-json " + t.file("q.json"),
                        &out, &err),
            0)
      << err;
  const auto q = nlohmann::json::parse(read_file(t.file("q.json")));
  EXPECT_EQ(q["items_done"], 300);
  EXPECT_EQ(q["items_total"], 300);
  EXPECT_TRUE(q["slides_total"].is_null());
}

// make-sample-slides: a line per slide written on stderr; its listing on stdout unchanged.
TEST(Progress, MakeSampleSlidesSaysEachSlide) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("s") + " --count 3 --size 1000", &out, &err), 0) << err;
  for (int i = 0; i < 3; ++i) {
    const std::string slide = t.file("s/slide_00" + std::to_string(i) + ".tiff");
    EXPECT_NE(err.find("finished " + slide + ": 1 megapixels in "), std::string::npos) << err;
    EXPECT_NE(out.find(slide + "\tlabel="), std::string::npos) << out;
  }
  EXPECT_NE(err.find("(3/3 slides)"), std::string::npos) << err;
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4) << "three slides and the manifest: " << out;
}

// Under a pseudo-terminal (script(1)): the live line, redrawn in place and cleared.
TEST(Progress, OnATerminalOneLiveLineClearedBeforeTheSummary) {
  TempDir t;
  pydmed::test::make_sample_slides(t.file("s"), 2);
  std::string out, err;
  ASSERT_EQ(run_command("script -qfec \"" + kCli + " sliding-window " + t.file("s") +
                            " --kernel 64 --stride 64 --out " + t.file("w.tsv") + "\" /dev/null",
                        &out, &err),
            0)
      << out << err;
  EXPECT_NE(out.find("\r\033[K2/2 slides, 512 windows"), std::string::npos) << out;
  EXPECT_EQ(out.find("finished "), std::string::npos) << "no per-slide lines on a terminal: " << out;
  const std::size_t summary = out.find("delivered 512 windows");
  ASSERT_NE(summary, std::string::npos) << out;
  EXPECT_EQ(out.rfind("\r\033[K", summary) + 4, summary) << "the line is cleared right before the summary";
}

// The rule not on a terminal, on a clock the test drives: 100 s of items, one a second, give a
// line at 30, 60 and 90 s (and the finished slides' lines), never a carriage return.
TEST(Progress, NotOnATerminalAtMostOneLineEvery30Seconds) {
  auto t = std::chrono::steady_clock::time_point();
  std::ostringstream out;
  pydmed::cli::Progress p({}, "windows", 2, 100, out, /*terminal=*/false, [&] { return t; });
  for (int s = 1; s <= 100; ++s) {
    t += std::chrono::seconds(1);
    p.add(1, "a.tiff");
    if (s == 45) p.slide_done("a.tiff", 45, 45.0);
  }
  p.finish();
  const std::string text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  // 30 s: a line; 45 s: the slide (which restarts the 30 s); 75 s: a line. Nothing else.
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_EQ(lines[0].rfind("0/2 slides, 30/100 windows, 1/s, 0:30, 1:10 left, a.tiff", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1], "finished a.tiff: 45 windows in 45.0 s (1/2 slides)");
  EXPECT_EQ(lines[2].rfind("1/2 slides, 75/100 windows, 1/s, 1:15, 0:25 left", 0), 0u) << lines[2];
}

// On a terminal, redrawn at most four times a second whatever the rate of items.
TEST(Progress, OnATerminalAtMostFourRedrawsASecond) {
  auto t = std::chrono::steady_clock::time_point();
  std::ostringstream out;
  pydmed::cli::Progress p({}, "patches", -1, -1, out, /*terminal=*/true, [&] { return t; });
  for (int i = 0; i < 1000; ++i) {  // 1000 items over 10 s
    t += std::chrono::milliseconds(10);
    p.add(1);
  }
  const std::string text = out.str();
  const auto redraws = std::count(text.begin(), text.end(), '\r');
  EXPECT_GE(redraws, 39);  // every 250 ms of the 10 s
  EXPECT_LE(redraws, 41);
  EXPECT_EQ(text.find('\n'), std::string::npos) << "a live line, no new lines";
}

}  // namespace
