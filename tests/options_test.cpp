// Options that cannot work are refused at construction, naming the option.
#include <gtest/gtest.h>

#include "engine_helpers.hpp"
#include "pydmed/engine/distributed.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

void expect_refused(const Options& o, const std::string& option, const std::string& reason = "") {
  try {
    LightDLCore dl(sample_dataset(2), random_bigchunk_loader(), random_smallchunk_collector(), o);
    ADD_FAILURE() << "accepted bad " << option;
  } catch (const OptionsError& e) {
    EXPECT_EQ(e.option(), option) << e.what();
    EXPECT_NE(std::string(e.what()).find(option), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST(Options, DefaultsAreThoseOfPyDmed) {
  const Options o;
  EXPECT_EQ(o.num_bigchunkloaders(), 10);
  EXPECT_EQ(o.maxlength_queue_smallchunk(), 100);
  EXPECT_EQ(o.maxlength_queue_lightdl(), 10000);
  EXPECT_EQ(o.interval_resched(), 10.0);
  EXPECT_TRUE(o.core_assignment().lightdl.empty());
  EXPECT_NO_THROW(o.validate());
}

TEST(Options, BadOptionsAreRefused) {
  expect_refused(test_options().num_bigchunkloaders(0), "num_bigchunkloaders", "at least 1");
  expect_refused(test_options().interval_resched(-1), "interval_resched", "positive");
  expect_refused(test_options().interval_resched(0), "interval_resched");
  expect_refused(test_options().maxlength_queue_smallchunk(0), "maxlength_queue_smallchunk");
  expect_refused(test_options().batch_size(64).maxlength_queue_lightdl(10), "maxlength_queue_lightdl",
                 "one batch of 64");
  expect_refused(test_options().batch_size(200).maxlength_queue_smallchunk(50), "maxlength_queue_smallchunk",
                 "one batch");
  CoreAssignment cores;
  cores.smallchunkcollectors = {0, 4096};
  expect_refused(test_options().core_assignment(cores), "core_assignment.smallchunkcollectors",
                 "core 4096 does not exist");
  cores = {};
  cores.lightdl = {-1};
  expect_refused(test_options().core_assignment(cores), "core_assignment.lightdl");
  expect_refused(test_options().patch_shape({0, 32, 3}), "patch_shape");
  expect_refused(test_options().bigchunk_timeout(0), "bigchunk_timeout");
  expect_refused(test_options().log_file("/no/such/dir/log.txt"), "log_file", "/no/such/dir/log.txt");
}

TEST(Options, MemoryIsAdmittedUpFront) {
  const Options big = Options().num_bigchunkloaders(64).max_bigchunk_bytes(std::size_t(1) << 30);
  try {
    big.memory_plan();
    FAIL() << "64 GiB of BigChunk buffers admitted";
  } catch (const OptionsError& e) {
    EXPECT_EQ(e.option(), "memory_budget_bytes");
    EXPECT_NE(std::string(e.what()).find("BigChunk buffers 13107"), std::string::npos) << e.what();  // 64 x 2 x 1 GiB
  }
  expect_refused(test_options().memory_budget_bytes(1 << 20), "memory_budget_bytes", "but the budget is 1 MiB");
  const MemoryPlan p = test_options().memory_plan();
  // Two rings of 64 slots: a 128-byte header, then slots of 128 (header) + 1024 (info) + 3072
  // (pixels) bytes, rounded up to 64.
  EXPECT_EQ(p.rings, 2u * (128 + 64 * 4224));
  EXPECT_GE(p.bigchunks, 2u * 512 * 512 * 3);
  EXPECT_LE(p.total(), p.budget);
}

// What the loaders' slides hold counts too: a plain PNG is decoded whole by the loader that
// opens it, so its size is admitted (from its header) before anything runs.
TEST(Options, AdmissionCountsWhatOpenSlidesHold) {
  TempDir t;
  std::string ihdr = "IHDR";
  for (std::uint32_t v : {15000u, 15000u})
    for (int k = 3; k >= 0; --k) ihdr += char(v >> (8 * k));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  write_file(t.file("big.png"),
             std::string("\x89PNG\r\n\x1a\n", 8) + std::string("\x00\x00\x00\x0d", 4) + ihdr + "crc!");
  Patient p;
  p.dict_records["wsi"] = Record{t.path(), "big.png", nlohmann::json::object()};
  const std::size_t decoded = std::size_t(15000) * 15000 * 3;
  EXPECT_EQ(Slide::resident_bytes_estimate(t.file("big.png")), decoded);
  try {
    LightDLCore dl(Dataset("png", {p}), random_bigchunk_loader(), random_smallchunk_collector(),
                   test_options().memory_budget_bytes(std::size_t(512) << 20));
    FAIL() << "a 643 MiB image admitted in a 512 MiB budget";
  } catch (const OptionsError& e) {
    EXPECT_EQ(e.option(), "memory_budget_bytes");
    EXPECT_NE(std::string(e.what()).find("open slides 643 MiB"), std::string::npos) << e.what();
  }
  // A JPEG pyramid is read tile by tile: the tile reader's tables and one decoder, far less than
  // OpenSlide's 32 MiB cache.
  const Dataset two = sample_dataset(2);
  const LightDLCore small(two, random_bigchunk_loader(), random_smallchunk_collector(), test_options());
  std::size_t held = 0;
  for (const auto& p : two.list_patients) held += Slide(p.record("wsi").path()).resident_bytes();
  EXPECT_EQ(small.memory_plan().slides, held);
  EXPECT_LT(held, 2u * (32u << 20));
}

// torchrun's variables: unset is one process; values are checked and the message names the
// variable.
TEST(Options, DistributedEnvReadsTorchrunsVariables) {
  const DistributedEnv none = DistributedEnv::from(nullptr, nullptr, nullptr, nullptr, nullptr);
  EXPECT_EQ(none.rank, 0);
  EXPECT_EQ(none.world_size, 1);
  EXPECT_EQ(none.master_port, 0);
  const DistributedEnv e = DistributedEnv::from("3", "4", "1", "10.0.0.2", "29500");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.2");
  EXPECT_EQ(e.master_port, 29500);
  auto bad = [](const char* r, const char* w, const char* l, const char* p) {
    try {
      DistributedEnv::from(r, w, l, nullptr, p);
    } catch (const OptionsError& x) {
      return x.option();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(bad("4", "4", nullptr, nullptr), "RANK");  // not below WORLD_SIZE
  EXPECT_EQ(bad("-1", "4", nullptr, nullptr), "RANK");
  EXPECT_EQ(bad("1", "0", nullptr, nullptr), "WORLD_SIZE");
  EXPECT_EQ(bad("1", "two", nullptr, nullptr), "WORLD_SIZE");
  EXPECT_EQ(bad("0", "2", "1x", nullptr), "LOCAL_RANK");
  EXPECT_EQ(bad("0", "2", "0", "70000"), "MASTER_PORT");
  EXPECT_EQ(bad("0", "2", "0", ""), "MASTER_PORT");
  // What the loader is given.
  EXPECT_NO_THROW(Options().rank(e.rank).world_size(e.world_size).validate());
}

}  // namespace
