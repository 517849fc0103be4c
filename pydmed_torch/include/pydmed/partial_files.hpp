#pragma once
// Files this process is writing under a temporary name (PATH.part, renamed into place when
// whole). A process ended by a signal never reaches the code that would remove them; its
// signal watcher (the command-line tool's) calls remove_partial_files() before it dies, so
// Ctrl-C leaves no partial file behind.
#include <string>

namespace pydmed {

// Registers `path` for the guard's life.
class PartialFile {
 public:
  explicit PartialFile(std::string path);
  ~PartialFile();
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

 private:
  std::string path_;
};

// Unlinks every registered file (for a process about to end). Thread-safe.
void remove_partial_files();

}  // namespace pydmed
