#include "support.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace pydmed::test {

std::string wsi_dir() {
  const char* env = std::getenv("PYDMED_WSI_DIR");
  return env && *env ? env : PYDMED_WSI_DIR;
}
std::string wsi(const std::string& file) { return wsi_dir() + "/" + file; }

bool have_wsi() {
  if (fs::exists(wsi("README.md"))) return true;
  if (std::getenv("PYDMED_REQUIRE_WSI")) {
    throw std::runtime_error("PYDMED_REQUIRE_WSI is set but " + wsi_dir() + " has no slides");
  }
  return false;
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "pydmed_test_XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string sha256_hex(const void* data, std::size_t size) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, size, md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) s += hex[md[i] >> 4], s += hex[md[i] & 15];
  return s;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int run_command(const std::string& command, std::string* out, std::string* err) {
  TempDir tmp;
  const std::string o = tmp.file("out"), e = tmp.file("err");
  const int status = std::system((command + " >" + o + " 2>" + e).c_str());
  if (out) *out = read_file(o);
  if (err) *err = read_file(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

StoppedRuns run_with_stops(const std::string& command, const std::function<std::uint64_t()>& progress, int max_stops,
                           bool interrupts, const std::function<void()>& before_each) {
  StoppedRuns r;
  for (int round = 0; round < 40; ++round) {
    if (before_each) before_each();
    const std::uint64_t before = progress();
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), nullptr);
      _exit(127);
    }
    int status = 0;
    bool stopped = false;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (r.stops < max_stops && progress() > before) {
        kill(pid, interrupts && r.stops % 2 == 1 ? SIGINT : SIGKILL);
        waitpid(pid, &status, 0);
        stopped = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!stopped) {
      r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return r;
    }
    ++r.stops;
  }
  return r;
}

int start_command(const std::string& command) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

void make_sample_slides(const std::string& dir, int count, int size, int seed) {
  std::string out, err;
  const int status =
      run_command(std::string(PYDMED_CLI) + " make-sample-slides " + dir + " --count " + std::to_string(count) +
                      " --size " + std::to_string(size) + " --seed " + std::to_string(seed),
                  &out, &err);
  if (status != 0) ADD_FAILURE() << "make-sample-slides " << dir << ": " << err;
}

}  // namespace pydmed::test
