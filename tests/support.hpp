#pragma once
// Shared helpers for the tests: where the real slides are, scratch folders, hashing.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pydmed::test {

// ../shared/wsi (or $PYDMED_WSI_DIR). Tests on real slides skip when it is absent, unless
// $PYDMED_REQUIRE_WSI is set (CI sets it), where they fail.
std::string wsi_dir();
std::string wsi(const std::string& file);
bool have_wsi();

// A fresh folder, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string sha256_hex(const void* data, std::size_t size);
void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// Runs `command` through the shell; returns its exit status, fills stdout and stderr.
int run_command(const std::string& command, std::string* out, std::string* err);

// Starts `command` (through sh -c, exec'd so the pid is the command's); returns its pid.
int start_command(const std::string& command);

// `pydmed make-sample-slides DIR --count N --size S --seed SEED`; fails the test if it fails.
void make_sample_slides(const std::string& dir, int count, int size = 1024, int seed = 0);

// A resumable command run again and again: each run is stopped as soon as `progress()` (what
// its state says was committed) has grown past its value when the run started, at most
// `max_stops` times (SIGKILL; with `interrupts`, SIGKILL and SIGINT in turn), then a run is
// left to end by itself. `before_each` is called before each start.
struct StoppedRuns {
  int stops = 0;
  int status = -1;  // the exit status of the run that ended by itself (-1: none did, in 40)
};
StoppedRuns run_with_stops(const std::string& command, const std::function<std::uint64_t()>& progress, int max_stops,
                           bool interrupts, const std::function<void()>& before_each = nullptr);

}  // namespace pydmed::test

#define PYDMED_REQUIRE_WSI()                                                \
  do {                                                                      \
    if (!::pydmed::test::have_wsi()) GTEST_SKIP() << "no real slides here"; \
  } while (0)
