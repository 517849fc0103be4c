// Crashes, hangs, bad slides and shutdown: the loader keeps serving, errors are recorded,
// and no process or shared memory outlives it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "engine_helpers.hpp"
#include "pydmed/error.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

bool has_error(const LightDLCore& dl, std::int64_t patient, const std::string& text) {
  for (const auto& e : dl.errors())
    if (e.patient == patient && e.message.find(text) != std::string::npos) return true;
  return false;
}

std::string all_errors(const LightDLCore& dl) {
  std::string s;
  for (const auto& e : dl.errors()) s += std::to_string(e.patient) + ": " + e.message + "\n";
  return s;
}

// Waits (consuming) until `pred` holds or `seconds` pass.
template <class P>
bool serve_until(LightDLCore& dl, P pred, double seconds = 10) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::uint8_t> buf(32 * 32 * 3 * 32);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    dl.next_batch_for(buf.data(), 32, nullptr, 0.05);
  }
  return pred();
}

TEST(Supervision, KilledCollectorIsRecordedAndReplaced) {
  LightDLCore dl(sample_dataset(4), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
                 test_options().interval_resched(100));
  consume(dl, 100);
  const auto pids = dl.collector_pids();
  ASSERT_EQ(pids.size(), 2u);
  const auto loaded = dl.loaded_patients();
  kill(pids[0], SIGKILL);
  ASSERT_TRUE(serve_until(dl, [&] { return dl.errors().size() >= 1 && dl.collector_pids().size() == 2; }));
  EXPECT_NE(all_errors(dl).find("killed by signal 9"), std::string::npos) << all_errors(dl);
  const Delivered d = consume(dl, 200);
  EXPECT_EQ(d.records.size(), 200u) << "the loader keeps serving";
  const auto now = dl.collector_pids();
  EXPECT_EQ(std::count(now.begin(), now.end(), pids[0]), 0) << "the killed collector was replaced";
}

// A loader slow enough to be caught alive.
class SlowLoader : public RandomBigChunkLoader {
 public:
  using RandomBigChunkLoader::RandomBigChunkLoader;
  std::optional<BigChunk> extract_bigchunk(const nlohmann::json& m) override {
    usleep(300000);
    return RandomBigChunkLoader::extract_bigchunk(m);
  }
};

TEST(Supervision, KilledLoaderIsRecordedAndTheLoaderGoesOn) {
  LightDLCore dl(
      sample_dataset(4), [] { return std::make_unique<SlowLoader>(test_bigchunks()); },
      random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(10)),
      test_options().interval_resched(100));
  pid_t victim = 0;
  ASSERT_TRUE(serve_until(dl, [&] {
    const auto l = dl.loader_pids();
    if (!l.empty()) victim = l[0];
    return victim != 0;
  }));
  kill(victim, SIGKILL);
  ASSERT_TRUE(serve_until(dl, [&] { return !dl.errors().empty(); }));
  EXPECT_NE(all_errors(dl).find("BigChunkLoader killed by signal 9"), std::string::npos) << all_errors(dl);
  EXPECT_EQ(consume(dl, 100).records.size(), 100u);
}

TEST(Supervision, TruncatedSlideIsSetAsideAndOthersKeepGoing) {
  TempDir t;
  const Dataset& good = sample_dataset(4);
  const std::string bytes = read_file(good.list_patients[0].record("wsi").path());
  write_file(t.file("cut.tiff"), bytes.substr(0, bytes.size() / 3));
  std::vector<Patient> ps = good.list_patients;
  Patient bad;
  bad.int_uniqueid = 99;
  bad.dict_records["wsi"] = Record{t.path(), "cut.tiff", nlohmann::json::object()};
  ps.push_back(bad);
  // Whole-level BigChunks, so the cut-off part is always read.
  LightDLCore dl(Dataset("with_bad", ps), random_bigchunk_loader(RandomBigChunkOptions().width(1024).height(1024)),
                 random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(5)),
                 test_options().max_bigchunk_bytes(1024 * 1024 * 3).interval_resched(0.05).max_failures(2));
  ASSERT_TRUE(serve_until(
      dl, [&] { return has_error(dl, 99, "set aside"); }, 20))
      << all_errors(dl);
  EXPECT_TRUE(has_error(dl, 99, "cut.tiff")) << "the error names the file: " << all_errors(dl);
  for (const auto& e : dl.errors()) EXPECT_EQ(e.patient, 99) << e.message;
  const Delivered d = consume(dl, 300);
  EXPECT_EQ(d.records.size(), 300u);
  for (const auto& r : d.records) EXPECT_NE(r.patient, 99);
  for (const auto& p : dl.stats().patients)
    if (p.patient == 99) EXPECT_TRUE(p.set_aside);
}

class HangingLoader : public RandomBigChunkLoader {
 public:
  using RandomBigChunkLoader::RandomBigChunkLoader;
  std::optional<BigChunk> extract_bigchunk(const nlohmann::json& m) override {
    if (patient().int_uniqueid == 1) pause();  // a decode that never returns
    return RandomBigChunkLoader::extract_bigchunk(m);
  }
};

TEST(Supervision, HangingLoaderIsKilledAfterTheTimeout) {
  LightDLCore dl(
      sample_dataset(3), [] { return std::make_unique<HangingLoader>(test_bigchunks()); },
      random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(20)),
      test_options().bigchunk_timeout(0.5).interval_resched(0.2).max_failures(1));
  ASSERT_TRUE(serve_until(
      dl, [&] { return has_error(dl, 1, "timed out"); }, 20))
      << all_errors(dl);
  EXPECT_TRUE(has_error(dl, 1, "set aside"));
  EXPECT_EQ(consume(dl, 200).records.size(), 200u);
}

TEST(Supervision, DestroyingTheLoaderLeavesNoProcessAndNoSharedMemory) {
  const auto shm_before = dev_shm();
  std::vector<pid_t> tree;
  {
    LightDLCore dl(
        sample_dataset(4), [] { return std::make_unique<SlowLoader>(test_bigchunks()); },
        random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(30)), test_options());
    consume(dl, 100);
    ASSERT_TRUE(serve_until(dl, [&] { return !dl.loader_pids().empty(); }));
    tree = dl.collector_pids();
    for (pid_t p : dl.loader_pids()) tree.push_back(p);
    const auto t0 = std::chrono::steady_clock::now();
    dl.stop();
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  }
  EXPECT_GE(tree.size(), 3u);
  EXPECT_TRUE(all_gone(tree));
  EXPECT_EQ(dev_shm(), shm_before);
}

TEST(Supervision, KillingTheRootKillsTheTree) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t root = fork();
  ASSERT_GE(root, 0);
  if (root == 0) {  // a training program that gets SIGKILLed in the middle
    close(fds[0]);
    // No swaps (a long interval), so the tree it reports is the tree that is running.
    LightDLCore dl(
        sample_dataset(4), [] { return std::make_unique<SlowLoader>(test_bigchunks()); },
        random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(30)),
        test_options().interval_resched(1000));
    consume(dl, 50);
    std::vector<std::uint8_t> buf(32 * 32 * 3);
    while (dl.loader_pids().empty()) dl.next_batch_for(buf.data(), 1, nullptr, 0.02);
    std::vector<pid_t> tree = dl.collector_pids();
    for (pid_t p : dl.loader_pids()) tree.push_back(p);
    [[maybe_unused]] auto n = write(fds[1], tree.data(), tree.size() * sizeof(pid_t));
    close(fds[1]);
    pause();
    _exit(0);
  }
  close(fds[1]);
  std::vector<pid_t> tree(16);
  const ssize_t got = read(fds[0], tree.data(), tree.size() * sizeof(pid_t));
  close(fds[0]);
  ASSERT_GT(got, 0);
  tree.resize(std::size_t(got) / sizeof(pid_t));
  for (pid_t p : tree) EXPECT_TRUE(process_alive(p));
  kill(root, SIGKILL);
  int status;
  waitpid(root, &status, 0);
  EXPECT_TRUE(all_gone(tree)) << "children outlived their root";
}

}  // namespace
