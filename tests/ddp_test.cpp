// examples/ddp_train over c10d (Gloo, localhost): ranks stay in step on disjoint shares that
// cover the dataset, and a rank that dies makes the others fail instead of hang.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

}  // namespace
