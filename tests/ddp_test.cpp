// examples/ddp_train over c10d (Gloo, localhost): ranks stay in step on disjoint shares that
// cover the dataset, and a rank that dies makes the others fail instead of hang.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "pydmed/data/manifest.hpp"
#include "support.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

const std::string kDdpTrain = PYDMED_DDP_TRAIN;
const std::string kDdpDemo = PYDMED_DDP_DEMO;

// A port the kernel says is free now (bound to 0, then released).
int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(s);
  return ntohs(a.sin_port);
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(j);
  }
  return out;
}

TEST(Ddp, TwoRanksStayInStepOnDisjointSharesCoveringTheDataset) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(std::string(PYDMED_CLI) + " make-sample-slides " + t.file("slides") + " --count 8 --size 2048",
                        &out, &err),
            0)
      << err;
  const int rc = run_command("DDP_TRAIN=" + kDdpTrain + " DDP_LOGS=" + t.file("logs") +
                                 " MASTER_PORT=" + std::to_string(free_port()) + " bash " + kDdpDemo + " 2 --slides " +
                                 t.file("slides") + " --steps 30 --batch 8 --collectors 1",
                             &out, &err);
  ASSERT_EQ(rc, 0) << out << err;
  const auto ranks = json_lines(out);
  ASSERT_EQ(ranks.size(), 2u) << out;
  const Dataset ds = read_manifest(t.file("slides/manifest.csv"));
  std::set<std::int64_t> all, covered;
  for (const Patient& p : ds.list_patients) all.insert(p.int_uniqueid);
  std::set<int> rank_ids;
  for (const auto& r : ranks) {
    rank_ids.insert(r["rank"].get<int>());
    EXPECT_EQ(r["world_size"], 2);
    EXPECT_EQ(r["steps"], 30);
    EXPECT_EQ(r["param_checksum"].get<double>(), ranks[0]["param_checksum"].get<double>()) << "ranks out of step";
    const auto share = r["patients"].get<std::vector<std::int64_t>>();
    ASSERT_FALSE(share.empty());
    for (auto id : share) EXPECT_TRUE(covered.insert(id).second) << "patient " << id << " on two ranks";
    const std::set<std::int64_t> mine(share.begin(), share.end());
    for (auto id : r["patients_seen"].get<std::vector<std::int64_t>>()) EXPECT_TRUE(mine.count(id)) << id;
  }
  EXPECT_EQ(rank_ids, (std::set<int>{0, 1}));
  EXPECT_EQ(covered, all) << "the shares cover the dataset";
}

TEST(Ddp, ARankThatDiesMakesTheOthersFailNotHang) {
  TempDir t;
  std::string out, err;
  // Slides first (rank 0 would make them; here both ranks start at once on a ready folder).
  ASSERT_EQ(run_command(std::string(PYDMED_CLI) + " make-sample-slides " + t.file("slides") + " --count 4 --size 2048",
                        &out, &err),
            0)
      << err;
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port());
  const std::string run = kDdpTrain + " --slides " + t.file("slides") + " --steps 1000000 --batch 8 --collectors 1";
  // Rank 1 is killed once rank 0 has trained 20 steps with it; rank 0 must then end, non-zero,
  // within its --timeout (the ctest timeout catches a hang).
  const std::string script = "RANK=1 LOCAL_RANK=1 " + env + " " + run + " >/dev/null 2>" + t.file("r1.err") +
                             " & r1=$!\n"
                             "RANK=0 LOCAL_RANK=0 " +
                             env + " " + run + " --timeout 30 >/dev/null 2>" + t.file("r0.err") +
                             " & r0=$!\n"
                             "until grep -q 'step 20/' " +
                             t.file("r0.err") +
                             " 2>/dev/null; do kill -0 $r0 2>/dev/null || break; sleep 0.1; done\n"
                             "kill -9 $r1\n"
                             "wait $r0; echo \"rank0=$?\"\n";
  ASSERT_EQ(run_command("(\n" + script + ")", &out, &err), 0) << err;
  const std::string r0 = read_file(t.file("r0.err"));
  EXPECT_NE(r0.find("step 20/"), std::string::npos) << "rank 0 trained beside rank 1 first: " << r0;
  EXPECT_EQ(out.find("rank0=0"), std::string::npos) << "rank 0 exited 0 after losing its peer: " << r0;
  EXPECT_NE(out.find("rank0="), std::string::npos) << out;
  EXPECT_NE(r0.find("ddp_train: rank 0: lost the other ranks while"), std::string::npos) << r0;
}

// Two ranks started with `flags0` and `flags1`; the exit statuses and stderr of both.
struct TwoRanks {
  int status[2] = {-1, -1};
  std::string err[2];
};
TwoRanks two_ranks(const TempDir& t, const std::string& flags0, const std::string& flags1) {
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port());
  const std::string script = "RANK=1 LOCAL_RANK=1 " + env + " " + kDdpTrain + " " + flags1 + " >/dev/null 2>" +
                             t.file("r1.err") + " & r1=$!\nRANK=0 LOCAL_RANK=0 " + env + " " + kDdpTrain + " " +
                             flags0 + " >/dev/null 2>" + t.file("r0.err") +
                             " & r0=$!\nwait $r0; echo $?; wait $r1; echo $?\n";
  std::string out, err;
  run_command("(\n" + script + ")", &out, &err);
  TwoRanks r;
  std::istringstream in(out);
  in >> r.status[0] >> r.status[1];
  r.err[0] = read_file(t.file("r0.err"));
  r.err[1] = read_file(t.file("r1.err"));
  return r;
}

// What must agree across ranks is checked at the start: one line naming the flag, no training.
TEST(Ddp, RanksThatDisagreeOrAMistypedSlidesPathAreRefused) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(std::string(PYDMED_CLI) + " make-sample-slides " + t.file("slides") + " --count 4 --size 1024",
                        &out, &err),
            0)
      << err;
  const std::string common = "--slides " + t.file("slides") + " --steps 5 --batch 4 --collectors 1 --timeout 30";
  const TwoRanks seeds = two_ranks(t, common + " --seed 1", common + " --seed 2");
  EXPECT_EQ(seeds.status[1], 1) << seeds.err[1];
  EXPECT_NE(seeds.err[1].find("ddp_train: rank 1: --seed differs from rank 0's (1 there, 2 here)"), std::string::npos)
      << seeds.err[1];
  EXPECT_EQ(std::count(seeds.err[1].begin(), seeds.err[1].end(), '\n'), 1) << seeds.err[1];
  // Rank 0 is told its peer left, in one line; it does not train alone.
  EXPECT_NE(seeds.status[0], 0) << seeds.err[0];
  EXPECT_EQ(seeds.err[0].find("step "), std::string::npos) << seeds.err[0];
  EXPECT_EQ(std::count(seeds.err[0].begin(), seeds.err[0].end(), '\n'), 1) << seeds.err[0];
  // A --slides path that is not there: not a folder of sample slides made on the spot.
  std::string e2;
  EXPECT_EQ(
      run_command("RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port()) +
                      " " + kDdpTrain + " --slides " + t.file("slids") + " --steps 1 --timeout 30",
                  &out, &e2),
      1);
  EXPECT_NE(e2.find(t.file("slids") + ": no such file"), std::string::npos) << e2;
  EXPECT_FALSE(std::filesystem::exists(t.file("slids"))) << "no sample slides made there";
}

// ddp_demo.sh's failure path: a rank that fails is named, the others are stopped, the ranks that
// finished print their summaries, and the script itself never dies of its own bookkeeping
// ("done_pid: unbound variable" once). Ranks here are a stand-in script, run many times.
TEST(Ddp, TheDemoScriptNamesAFailedRankAndStopsTheRest) {
  TempDir t;
  pydmed::test::write_file(t.file("rank.sh"),
                           "#!/bin/bash\n"
                           "case $RANK in 1) echo 'bad flag' >&2; exit 3 ;; 2) echo '{\"rank\":2}'; exit 0 ;; esac\n"
                           "exec sleep 60\n");
  ASSERT_EQ(std::system(("chmod +x " + t.file("rank.sh")).c_str()), 0);
  for (int run = 0; run < 8; ++run) {
    std::string out, err;
    EXPECT_EQ(run_command("timeout 50 env DDP_TRAIN=" + t.file("rank.sh") + " DDP_LOGS=" + t.file("logs") + " bash " +
                              kDdpDemo + " 3",
                          &out, &err),
              1)
        << "124 is a rank left running: " << err;
    EXPECT_NE(err.find("ddp_demo.sh: rank 1 exited with status 3: bad flag"), std::string::npos) << err;
    EXPECT_EQ(err.find("unbound variable"), std::string::npos) << err;
  }
}

// MASTER_PORT held by a program that is not the job (it takes connections and never answers):
// a rank gives up within its --timeout, in one line, instead of waiting on.
TEST(Ddp, APortHeldByAnotherProgramEndsTheRankInOneLine) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(std::string(PYDMED_CLI) + " make-sample-slides " + t.file("slides") + " --count 2 --size 512",
                        &out, &err),
            0);
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 16), 0);  // the kernel completes connections; nobody reads them
  socklen_t n = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  const int rc = run_command("timeout 120 env RANK=1 LOCAL_RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                                 std::to_string(ntohs(a.sin_port)) + " " + kDdpTrain + " --slides " + t.file("slides") +
                                 " --steps 1 --timeout 3",
                             &out, &err);
  ::close(s);
  EXPECT_EQ(rc, 1) << "124 is a hang: " << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("ddp_train: rank 1: "), std::string::npos) << err;
}

}  // namespace
