#include "pydmed/partial_files.hpp"

#include <unistd.h>

#include <mutex>
#include <set>

namespace pydmed {

namespace {
std::mutex& mu() {
  static std::mutex m;
  return m;
}
std::multiset<std::string>& files() {
  static std::multiset<std::string> f;
  return f;
}
}  // namespace

PartialFile::PartialFile(std::string path) : path_(std::move(path)) {
  std::lock_guard<std::mutex> g(mu());
  files().insert(path_);
}

PartialFile::~PartialFile() {
  std::lock_guard<std::mutex> g(mu());
  if (const auto it = files().find(path_); it != files().end()) files().erase(it);
}

void remove_partial_files() {
  std::lock_guard<std::mutex> g(mu());
  for (const std::string& f : files()) ::unlink(f.c_str());
}

}  // namespace pydmed
