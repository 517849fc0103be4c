// Runs stopped and started again: `pydmed sliding-window --state` writes every window exactly
// once across SIGKILLs and Ctrl-Cs; `pydmed stream --state` goes on with new visits only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "support.hpp"

using namespace pydmed::test;

namespace {

const std::string kCli = PYDMED_CLI;

pid_t spawn_cli(const std::vector<std::string>& args, const std::string& err_file) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(err, 2);
    std::vector<char*> argv{const_cast<char*>(kCli.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(kCli.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// What the state file says was committed (0 before its first commit with progress).
std::uint64_t committed(const std::string& state, const char* key) {
  const auto j = nlohmann::json::parse(read_file(state), nullptr, false);
  if (!j.is_object()) return 0;
  if (std::string(key) == "out_bytes") return j.value("out_bytes", std::uint64_t(0));
  const auto& p = j["progress"];
  return p.is_object() ? p.value(key, std::uint64_t(0)) : 0;
}

// Runs the command again and again, each time stopping it (SIGKILL, then Ctrl-C, in turn) as
// soon as it has committed more than the last run, until a run ends by itself. Returns how many
// were stopped, and the committed output size at each restart.
int run_with_stops(const std::vector<std::string>& args, const std::string& state, const char* key,
                   const std::string& err, std::vector<std::uint64_t>* restarts) {
  int stops = 0;
  for (int round = 0; round < 40; ++round) {
    const std::uint64_t before = std::ifstream(state).good() ? committed(state, key) : 0;
    if (restarts) restarts->push_back(std::ifstream(state).good() ? committed(state, "out_bytes") : 0);
    const pid_t pid = spawn_cli(args, err);
    int status = 0;
    bool stopped = false;
    // Stops after at most 4 rounds; then lets it finish.
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (stops < 4 && std::ifstream(state).good() && committed(state, key) > before) {
        kill(pid, stops % 2 == 0 ? SIGKILL : SIGINT);
        waitpid(pid, &status, 0);
        stopped = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!stopped) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(err);
      return stops;
    }
    ++stops;
  }
  ADD_FAILURE() << "the run never finished";
  return stops;
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
  const int stops = run_with_stops(args, t.file("state.json"), "windows", t.file("err.txt"), nullptr);
  EXPECT_GE(stops, 2) << "the run was stopped and resumed";
  const auto want = sorted_lines(read_file(t.file("whole.tsv")));
  const auto got = sorted_lines(read_file(t.file("part.tsv")));
  EXPECT_EQ(got.size(), want.size()) << "one header and every window once";
  EXPECT_TRUE(got == want) << "the resumed run's windows differ from an uninterrupted run's";
  EXPECT_EQ(committed(t.file("state.json"), "windows") + 1, want.size());
  // A finished run started again adds nothing.
  ASSERT_EQ(run_with_stops(args, t.file("state.json"), "windows", t.file("err.txt"), nullptr), 0);
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
  const int stops = run_with_stops(args, t.file("s.json"), "rows", t.file("err.txt"), &restarts);
  EXPECT_GE(stops, 2);
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
