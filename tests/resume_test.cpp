// Runs stopped and started again: `pydmed sliding-window --state` writes every window exactly
// once across SIGKILLs and Ctrl-Cs; `pydmed stream --state` goes on with new visits only.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "support.hpp"

using namespace pydmed::test;

namespace {

const std::string kCli = PYDMED_CLI;

// What the state file says was committed (0 before its first commit with progress).
std::uint64_t committed(const std::string& state, const char* key) {
  const auto j = nlohmann::json::parse(read_file(state), nullptr, false);
  if (!j.is_object()) return 0;
  if (std::string(key) == "out_bytes") return j.value("outputs", nlohmann::json::object()).value("out", std::uint64_t(0));
  const auto& p = j["progress"];
  return p.is_object() ? p.value(key, std::uint64_t(0)) : 0;
}

// The CLI with `args`, stopped and resumed until a run ends by itself (SIGKILL and Ctrl-C in turn,
// at most four stops), each stop once the state shows more `key` committed. `restarts`: the
// committed output size at each start.
StoppedRuns run_cli_with_stops(const std::vector<std::string>& args, const std::string& state, const char* key,
                               const std::string& err, std::vector<std::uint64_t>* restarts) {
  std::string command = kCli;
  for (const auto& a : args) command += " " + a;
  auto committed_now = [&](const char* what) { return std::ifstream(state).good() ? committed(state, what) : 0; };
  return run_with_stops(
      command + " >/dev/null 2>>" + err, [&] { return committed_now(key); }, 4, /*interrupts=*/true,
      [&] {
        if (restarts) restarts->push_back(committed_now("out_bytes"));
      });
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> sorted_lines(const std::string& text) {
  auto v = lines(text);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(Resume, SlidingWindowWritesEveryWindowOnceAcrossKillsAndInterrupts) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 3 --size 4096", &out, &err), 0)
      << err;
  const std::vector<std::string> common{"sliding-window", t.file("slides"), "--kernel", "32", "--stride", "32"};
  std::vector<std::string> whole = common;
  whole.insert(whole.end(), {"--out", t.file("whole.tsv")});
  std::string cmd = kCli;
  for (const auto& a : whole) cmd += " " + a;
  ASSERT_EQ(run_command(cmd, &out, &err), 0) << err;

  std::vector<std::string> args = common;
  args.insert(args.end(), {"--collectors", "1", "--out", t.file("part.tsv"), "--state", t.file("state.json"),
                           "--state-every", "0.01"});
  const StoppedRuns runs = run_cli_with_stops(args, t.file("state.json"), "windows", t.file("err.txt"), nullptr);
  EXPECT_EQ(runs.status, 0) << read_file(t.file("err.txt"));
  EXPECT_GE(runs.stops, 2) << "the run was stopped and resumed";
  const auto want = sorted_lines(read_file(t.file("whole.tsv")));
  const auto got = sorted_lines(read_file(t.file("part.tsv")));
  EXPECT_EQ(got.size(), want.size()) << "one header and every window once";
  EXPECT_TRUE(got == want) << "the resumed run's windows differ from an uninterrupted run's";
  EXPECT_EQ(committed(t.file("state.json"), "windows") + 1, want.size());
  // A finished run started again adds nothing.
  const StoppedRuns again = run_cli_with_stops(args, t.file("state.json"), "windows", t.file("err.txt"), nullptr);
  EXPECT_EQ(again.status, 0) << read_file(t.file("err.txt"));
  ASSERT_EQ(again.stops, 0);
  EXPECT_EQ(sorted_lines(read_file(t.file("part.tsv"))), want);
}

TEST(Resume, StreamGoesOnWithNewVisitsOnly) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 4 --size 2048", &out, &err), 0)
      << err;
  const std::vector<std::string> args{"stream",
                                      t.file("slides"),
                                      "--count",
                                      "6000",
                                      "--patch",
                                      "32",
                                      "--bigchunk",
                                      "256",
                                      "--max-per-bigchunk",
                                      "40",
                                      "--interval-resched",
                                      "0.05",
                                      "--out",
                                      t.file("s.tsv"),
                                      "--state",
                                      t.file("s.json"),
                                      "--state-every",
                                      "0.01"};
  std::vector<std::uint64_t> restarts;
  const StoppedRuns runs = run_cli_with_stops(args, t.file("s.json"), "rows", t.file("err.txt"), &restarts);
  EXPECT_EQ(runs.status, 0) << read_file(t.file("err.txt"));
  EXPECT_GE(runs.stops, 2);
  const std::string text = read_file(t.file("s.tsv"));
  const auto all = lines(text);
  ASSERT_EQ(all.size(), 6001u) << "a header and --count rows across the runs";
  EXPECT_EQ(std::count(all.begin(), all.end(), all[0]), 1) << "one header";
  // Each resumed run's rows (from where it cut the file back to) are visits the rows before it
  // never had.
  restarts.push_back(text.size());
  for (std::size_t i = 1; i + 1 < restarts.size(); ++i) {
    if (restarts[i] == restarts[i - 1]) continue;
    auto pair_of = [](const std::string& line) {
      std::istringstream f(line);
      std::string patient, visit;
      std::getline(f, patient, '\t');
      std::getline(f, visit, '\t');
      return std::make_pair(patient, visit);
    };
    std::set<std::pair<std::string, std::string>> before;
    const auto prefix = lines(text.substr(0, restarts[i]));
    for (std::size_t k = 1; k < prefix.size(); ++k) before.insert(pair_of(prefix[k]));  // past the header
    for (const auto& l : lines(text.substr(restarts[i], restarts[i + 1] - restarts[i]))) {
      const auto [patient, visit] = pair_of(l);
      EXPECT_EQ(before.count({patient, visit}), 0u) << "patient " << patient << " visit " << visit << " again";
    }
  }
}

TEST(Resume, StateFromAnotherRunIsRefused) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 2 --size 1024", &out, &err), 0);
  const std::string base = kCli + " sliding-window " + t.file("slides") + " --out " + t.file("o.tsv") + " --state " +
                           t.file("s.json") + " --kernel ";
  ASSERT_EQ(run_command(base + "64", &out, &err), 0) << err;
  EXPECT_NE(run_command(base + "32", &out, &err), 0);
  EXPECT_NE(err.find("was saved by a run with other arguments"), std::string::npos) << err;
  EXPECT_NE(run_command(kCli + " sliding-window " + t.file("slides") + " --state " + t.file("s.json"), &out, &err), 0);
  EXPECT_NE(err.find("--state needs --out FILE"), std::string::npos) << err;
  // The same arguments over a source that changed (a slide added shifts the ids): refused.
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("more") + " --count 1 --size 1024 --seed 5", &out, &err),
            0);
  std::filesystem::copy_file(t.file("more/slide_000.tiff"), t.file("slides/slide_0000.tiff"));
  EXPECT_NE(run_command(base + "64", &out, &err), 0);
  EXPECT_NE(err.find("was saved by a run with other arguments"), std::string::npos) << err;
  std::filesystem::remove(t.file("slides/slide_0000.tiff"));
  // An output shorter than the state says: not that run's.
  write_file(t.file("o.tsv"), "patient\n");
  EXPECT_NE(run_command(base + "64", &out, &err), 0);
  EXPECT_NE(err.find("not that run's output"), std::string::npos) << err;
}

}  // namespace
