#include "pydmed/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/file_identity.hpp"
#include "pydmed/partial_files.hpp"
#include "pydmed/run_lock.hpp"
#include "slide/image_header.hpp"

namespace fs = std::filesystem;

namespace pydmed {

OutputFile::OutputFile(const std::string& path, Mode mode, std::size_t buffer_bytes) : buffer_bytes_(buffer_bytes) {
  if (path.empty() || path == "-") {
    name_ = "standard output";
    fd_ = STDOUT_FILENO;
    owns_fd_ = false;
    return;
  }
  name_ = path;
  struct stat st {};
  // Links resolved: an Atomic write replaces the link's target and keeps the link.
  const std::string resolved = resolved_path(path);
  const bool special = ::stat(resolved.c_str(), &st) == 0 && !S_ISREG(st.st_mode);  // a device, a pipe
  if (mode == Mode::Atomic && !special) {
    target_ = resolved;
    path_ = target_ + ".part";
    partial_ = std::make_shared<PartialFile>(path_);
  } else {
    path_ = path;
  }
  // Not O_TRUNC: a file another run is writing is refused (locked) before it is emptied. A file
  // renamed away between the open and the lock (another run's .part put in place) is not ours
  // to empty: open again.
  for (;;) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) fail("cannot open for writing", errno);
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return;
    lock();
    if (RunLock::still_at(fd_, path_)) break;
    ::close(fd_);
  }
  if (::ftruncate(fd_, 0) != 0) give_up("cannot empty it");
}

// Closed before throwing: the destructor does not run for a constructor that throws.
void OutputFile::give_up(const std::string& what) {
  const int err = errno;
  ::close(fd_);
  fd_ = -1;
  fail(what, err);
}

void OutputFile::lock() {
  try {
    RunLock::lock_open_file(fd_, name_);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

OutputFile::OutputFile(const std::string& path, std::uint64_t keep_bytes)
    : name_(path), path_(path), buffer_bytes_(std::size_t(1) << 20) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open to continue it", errno);
  lock();
  struct stat st {};
  if (::fstat(fd_, &st) != 0) give_up("cannot read its size");
  if (!S_ISREG(st.st_mode) || std::uint64_t(st.st_size) < keep_bytes) {
    const std::string got = std::to_string(st.st_size);
    ::close(fd_);
    fd_ = -1;
    throw Error(name_ + ": has " + got + " bytes, fewer than the " + std::to_string(keep_bytes) +
                " the run's state says were committed: not that run's output");
  }
  if (::ftruncate(fd_, off_t(keep_bytes)) != 0 || ::lseek(fd_, off_t(keep_bytes), SEEK_SET) < 0) {
    give_up("cannot cut the uncommitted tail");
  }
  written_ = line_end_ = keep_bytes;
}

OutputFile::~OutputFile() {
  if (fd_ >= 0 && target_.empty()) {  // Direct: what was produced reaches the file, if it can
    try {
      flush();
    } catch (const Error&) {
    }
  }
  if (owns_fd_ && fd_ >= 0) {
    ::close(fd_);
    if (!target_.empty()) ::unlink(path_.c_str());  // never close()d: the run failed
  }
}

void OutputFile::fail(const std::string& what, int err) const {
  const std::string where = target_.empty() || path_ == name_ ? name_ : name_ + " (writing " + path_ + ")";
  throw Error(where + ": " + what + ": " + std::strerror(err));
}

void OutputFile::write_all(const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      // Best effort: a file that cannot shrink keeps its cut line, and the error says why.
      if (whole_lines_ && owns_fd_ && target_.empty() && ::ftruncate(fd_, off_t(line_end_)) == 0 &&
          ::lseek(fd_, off_t(line_end_), SEEK_SET) >= 0)
        written_ = line_end_;
      fail("write failed", err);
    }
    if (whole_lines_) {
      if (const void* nl = ::memrchr(data, '\n', std::size_t(n)))
        line_end_ = written_ + std::uint64_t(static_cast<const char*>(nl) - data) + 1;
    }
    data += n;
    size -= std::size_t(n);
    written_ += std::uint64_t(n);
  }
}

void OutputFile::write(std::string_view bytes) {
  if (fd_ < 0) throw Error(name_ + ": write after close");
  if (buffer_.size() + bytes.size() > buffer_bytes_) {
    flush();
    if (bytes.size() > buffer_bytes_) return write_all(bytes.data(), bytes.size());
  }
  buffer_.append(bytes);
}

void OutputFile::flush() {
  if (fd_ < 0 || buffer_.empty()) return;
  std::string pending;
  pending.swap(buffer_);  // dropped even when the write fails: a retry must not write it twice
  write_all(pending.data(), pending.size());
}

void OutputFile::sync() {
  flush();
  if (fd_ >= 0 && owns_fd_ && ::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) fail("write failed", errno);
}

void OutputFile::close() {
  if (fd_ < 0) return;
  flush();
  if (!owns_fd_) {
    fd_ = -1;
    return;
  }
  // fsync: on NFS and some full-disk cases the error shows only here, not at write().
  if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) fail("write failed", errno);
  // Renamed while still locked: a second run can never lock (and empty) the file once it is in
  // place.
  const int fd = fd_;
  fd_ = -1;
  if (!target_.empty() && ::rename(path_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    ::unlink(path_.c_str());
    ::close(fd);
    fail("cannot move " + path_ + " into place", err);
  }
  target_.clear();
  partial_.reset();
  if (::close(fd) != 0) fail("close failed", errno);
}

void make_output_folder(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw Error(dir + ": cannot write in the folder: " + std::strerror(errno));
}

void write_image(const std::string& path, const cv::Mat& bgr) {
  // Encoded in memory first: cv::imwrite reports no reason and removes what is at the path on
  // failure (a symbolic link included).
  const std::string ext = fs::path(path).extension().string();
  std::vector<std::uint8_t> bytes;
  bool ok = false;
  try {
    ok = !ext.empty() && cv::haveImageWriter(path) && cv::imencode(ext, bgr, bytes);
  } catch (const cv::Exception& e) {
    throw Error(path + ": cannot encode the image: " + e.err);
  }
  if (!ok) throw Error(path + ": cannot encode an image as '" + ext + "' (use .png or .jpg)");
  mark_as_pydmed_output(&bytes);
  OutputFile f(path, OutputFile::Mode::Atomic);
  f.write(bytes.data(), bytes.size());
  f.close();
}

}  // namespace pydmed
