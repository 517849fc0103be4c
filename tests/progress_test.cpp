// Long runs show where they are (issue 28): not on a terminal, a plain line per finished slide
// (its windows as written) and no carriage return; on a terminal, one live line cleared before
// the summary; --quiet drops both; --progress-json ends with the counts delivered. The data
// outputs stay clean either way.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

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

}  // namespace
