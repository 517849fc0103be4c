// The shared-memory ring across a real fork: order, blocking when full, stop.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "engine/ring.hpp"
#include "engine/shared_memory.hpp"
#include "engine/shared_text.hpp"

using namespace pydmed::detail;

TEST(Ring, ProducerProcessToConsumerInOrder) {
  const std::uint32_t cap = 8;
  SharedMemory mem(64 + Ring::bytes_for(cap, 16, 256));
  auto* bell = new (mem.data()) Doorbell();
  Ring ring(mem.data() + 64, cap, 16, 256, bell);
  const int total = 5000;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    volatile std::sig_atomic_t stop = 0;
    for (int i = 0; i < total; ++i) {
      std::uint8_t* s = ring.wait_for_free_slot(&stop);
      const std::uint64_t n = std::uint64_t(i);  // the ring carries the header area as bytes (the codec's)
      std::memcpy(s, &n, sizeof n);
      std::memset(ring.data(s), i & 0xFF, 256);
      ring.publish();
    }
    _exit(0);
  }
  int got = 0;
  std::uint32_t max_fill = 0;
  while (got < total) {
    const std::uint32_t snap = bell->snapshot();
    if (ring.available() == 0) {
      bell->wait(snap, 1000);
      continue;
    }
    max_fill = std::max(max_fill, ring.available());
    const std::uint8_t* s = ring.front();
    std::uint64_t n = 0;
    std::memcpy(&n, s, sizeof n);
    ASSERT_EQ(n, std::uint64_t(got));
    ASSERT_EQ(ring.data(s)[255], got & 0xFF);
    ring.pop();
    ++got;
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_LE(max_fill, cap);
  EXPECT_EQ(ring.published(), std::uint32_t(total));
}

TEST(Ring, FullRingBlocksUntilStopped) {
  SharedMemory mem(Ring::bytes_for(2, 0, 8));
  Ring ring(mem.data(), 2, 0, 8, nullptr);
  volatile std::sig_atomic_t stop = 0;
  ASSERT_NE(ring.wait_for_free_slot(&stop), nullptr);
  ring.publish();
  ASSERT_NE(ring.wait_for_free_slot(&stop), nullptr);
  ring.publish();
  stop = 1;  // full: would block; a stop request returns at once
  EXPECT_EQ(ring.wait_for_free_slot(&stop), nullptr);
  EXPECT_EQ(ring.available(), 2u);
}

TEST(SharedText, KeepsTheLastCompleteValue) {
  SharedMemory mem(SharedText::bytes_for(32));
  SharedText t(mem.data(), 32);
  std::string s;
  EXPECT_EQ(t.read(&s), 0u);
  EXPECT_TRUE(t.write("first"));
  EXPECT_TRUE(t.write("second"));
  EXPECT_FALSE(t.write(std::string(33, 'x')));
  EXPECT_EQ(t.read(&s), 2u);
  EXPECT_EQ(s, "second");
}

TEST(SharedMemory, IsNotUnderDevShm) {
  SharedMemory mem(1 << 20);
  // Anonymous: the mapping shows as /dev/zero (deleted), never as a /dev/shm name.
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  char line[512];
  bool found = false;
  const auto addr = reinterpret_cast<std::uintptr_t>(mem.data());
  while (std::fgets(line, sizeof line, f)) {
    std::uintptr_t lo, hi;
    if (std::sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= addr && addr < hi) {
      found = true;
      EXPECT_EQ(std::string(line).find("/dev/shm"), std::string::npos) << line;
    }
  }
  std::fclose(f);
  EXPECT_TRUE(found);
}
