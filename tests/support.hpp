#pragma once
// Shared helpers for the tests: where the real slides are, scratch folders, hashing.
#include <cstdint>
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

}  // namespace pydmed::test

#define PYDMED_REQUIRE_WSI()                                                \
  do {                                                                      \
    if (!::pydmed::test::have_wsi()) GTEST_SKIP() << "no real slides here"; \
  } while (0)
