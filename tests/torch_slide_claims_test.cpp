// SlideClaims against a real c10d TCPStore (a server and a client per rank, as torchrun's ranks
// have): every slide claimed once, a silent holder's slide taken over by exactly one rank after
// the lease, a beating holder kept, the fence refusing the rank that lost its slide.
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "pydmed/torch/slide_claims.hpp"

namespace pydmed {
namespace {

class Job {
 public:
  Job() {
    c10d::TCPStoreOptions o;
    o.port = 0;  // any free port
    o.isServer = true;
    o.waitWorkers = false;
    o.timeout = std::chrono::seconds(30);
    server_ = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
  }
  // A rank's own connection, as each process of a job has.
  SlideClaims rank(std::size_t slides, double lease_s = 60) const {
    c10d::TCPStoreOptions o;
    o.port = server_->getPort();
    o.timeout = std::chrono::seconds(30);
    return SlideClaims(c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o), slides, ClaimOptions().lease_s(lease_s));
  }

 private:
  c10::intrusive_ptr<c10d::TCPStore> server_;
};

void longer_than(double lease_s) { std::this_thread::sleep_for(std::chrono::duration<double>(lease_s * 1.5)); }

TEST(SlideClaims, RanksWorkingAtOnceDoEverySlideOnce) {
  Job job;
  constexpr std::size_t kSlides = 40;
  std::vector<std::vector<std::size_t>> did(3);
  std::vector<std::thread> ranks;
  for (std::size_t r = 0; r < did.size(); ++r) {
    ranks.emplace_back([&, r] {
      SlideClaims claims = job.rank(kSlides);
      while (auto c = claims.next()) {
        claims.beat(*c);
        ASSERT_TRUE(claims.still_holds(*c));
        did[r].push_back(c->slide);
        claims.done(*c);
      }
    });
  }
  for (auto& t : ranks) t.join();
  std::multiset<std::size_t> all;
  for (const auto& d : did) all.insert(d.begin(), d.end());
  EXPECT_EQ(all.size(), kSlides) << "no slide done twice";
  EXPECT_EQ(std::set<std::size_t>(all.begin(), all.end()).size(), kSlides) << "none missed";
}

TEST(SlideClaims, ASilentHoldersSlideIsTakenOverAndItsFileRefused) {
  Job job;
  constexpr double kLease = 0.2;
  SlideClaims a = job.rank(1, kLease), b = job.rank(1, kLease);
  const auto held = a.try_next();
  ASSERT_TRUE(held);
  EXPECT_FALSE(b.try_next()) << "held: B only starts watching its beat";
  longer_than(kLease);
  a.beat(*held);
  EXPECT_FALSE(b.try_next()) << "it beat: still A's";
  longer_than(kLease);
  const auto taken = b.try_next();  // silent for a lease, by B's clock
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->slide, held->slide);
  EXPECT_GT(taken->number, held->number);
  EXPECT_FALSE(a.still_holds(*held)) << "the fence: A must drop its copy";
  EXPECT_TRUE(b.still_holds(*taken));
  b.done(*taken);
  EXPECT_TRUE(a.finished());
  longer_than(kLease);
  EXPECT_FALSE(a.try_next()) << "a done slide is never claimed again";
}

TEST(SlideClaims, RanksTakingOverAtOnceLeaveOneWinner) {
  Job job;
  constexpr double kLease = 0.2;
  SlideClaims a = job.rank(1, kLease);
  ASSERT_TRUE(a.try_next());  // then silent
  std::vector<SlideClaims> others;
  for (int r = 0; r < 4; ++r) {
    others.push_back(job.rank(1, kLease));
    EXPECT_FALSE(others.back().try_next());
  }
  longer_than(kLease);
  std::atomic<int> winners{0};
  std::vector<std::thread> ranks;
  for (auto& o : others)
    ranks.emplace_back([&o, &winners] {
      if (o.try_next()) ++winners;
    });
  for (auto& t : ranks) t.join();
  EXPECT_EQ(winners.load(), 1);
}

}  // namespace
}  // namespace pydmed
