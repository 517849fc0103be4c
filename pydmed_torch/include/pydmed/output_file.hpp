#pragma once
// A file written with every write, flush and close checked. iostreams lose the OS reason and
// are easy to leave unchecked (a TSV on a full disk "succeeded"); this throws Error naming the
// file and the reason ("out.tsv: No space left on device") at the first failure.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace cv {
class Mat;
}

namespace pydmed {

class PartialFile;

class OutputFile {
 public:
  enum class Mode {
    // Written in place as it grows (a TSV a run appends to: what was written stays written).
    Direct,
    // Written to PATH.part beside the target and renamed over it by close(): the file is whole
    // or absent, never half written. A symbolic link at PATH is followed (its target is replaced),
    // so a link a user placed survives.
    Atomic,
  };

  // Opens (creates or truncates) `path`; "" or "-" is standard output (named so in errors, and
  // always Direct). Writes reach the file each time `buffer_bytes` have gathered (many files
  // open at once want less). Throws Error naming the path and the OS reason.
  explicit OutputFile(const std::string& path, Mode mode = Mode::Direct,
                      std::size_t buffer_bytes = std::size_t(1) << 20);
  // Opens an existing regular file to go on writing after its first `keep_bytes` (what follows,
  // a tail a stopped run wrote but never committed, is cut off). Throws Error naming the file
  // when it is missing or shorter than that.
  OutputFile(const std::string& path, std::uint64_t keep_bytes);
  // Closes without throwing: a Direct file gets what is buffered (what was produced is kept),
  // an Atomic file not close()d is removed (a failed run leaves no partial file). Call close()
  // to see errors.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // For text written a line at a time (a TSV): a write that fails (a full disk) cuts the file
  // back to its last whole line, so that what was produced stays readable.
  void keep_whole_lines() { whole_lines_ = true; }

  // Buffered; reaches the file at flush(), close(), or when the buffer is large.
  void write(std::string_view bytes);
  void write(const void* data, std::size_t size) { write(std::string_view(static_cast<const char*>(data), size)); }
  void flush();
  // Flushes and asks the OS to put it on disk (fsync): what was written survives a crash.
  void sync();
  // Bytes in the file, with what is buffered (and, for a continued file, what was kept).
  std::uint64_t size() const { return written_ + buffer_.size(); }
  // Flushes, closes (and for Atomic renames into place). Throws Error on any failure.
  void close();

  // The path as given, or "standard output".
  const std::string& name() const { return name_; }

 private:
  void write_all(const char* data, std::size_t size);
  [[noreturn]] void fail(const std::string& what, int err) const;
  // For the constructors: the run's lock on the open file (another run's: Error), and closing
  // it before throwing (a constructor that throws runs no destructor).
  void lock();
  [[noreturn]] void give_up(const std::string& what);

  std::string name_;    // for messages
  std::string target_;  // where an Atomic file goes at close(); "" for Direct
  std::string path_;    // the file being written
  std::string buffer_;
  std::size_t buffer_bytes_;
  int fd_ = -1;
  bool owns_fd_ = true;
  std::uint64_t written_ = 0;   // bytes that reached the file
  std::uint64_t line_end_ = 0;  // with whole_lines_: the file's size up to its last newline
  bool whole_lines_ = false;
  std::shared_ptr<PartialFile> partial_;  // an Atomic file's .part, removed if a signal ends the process
};

// Makes `dir` (and its parents) if missing and checks that files can be made in it: an output
// folder refused before a run, not found unwritable after it. Error naming it and the reason.
void make_output_folder(const std::string& dir);

// Encodes `bgr` by the path's extension (.png, .jpg, ...) and writes it whole or not at all
// (OutputFile::Mode::Atomic). Throws Error naming the path: an extension OpenCV cannot
// encode, or the OS reason the write failed.
void write_image(const std::string& path, const cv::Mat& bgr);

}  // namespace pydmed
