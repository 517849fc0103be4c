#include "slide/byte_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "file_descriptor.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/block_cache.hpp"

namespace pydmed {

namespace {

class FileSource : public ByteSource {
 public:
  FileSource(std::string path, detail::FileDescriptor fd, std::uint64_t size)
      : ByteSource(std::move(path)), fd_(std::move(fd)), size_(size) {}
  std::size_t read_at(void* dst, std::size_t n, std::uint64_t offset) const override {
    std::size_t done = 0;
    while (done < n) {  // pread may return less than asked before the end (signals, large reads)
      const ssize_t got = ::pread(fd_.get(), static_cast<char*>(dst) + done, n - done, off_t(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw SlideError(name(), std::string("cannot read: ") + std::strerror(errno));
      if (got == 0) break;
      done += std::size_t(got);
    }
    return done;
  }
  std::uint64_t size() const override { return size_; }

 private:
  detail::FileDescriptor fd_;
  std::uint64_t size_;
};

class UrlSource : public ByteSource {
 public:
  explicit UrlSource(std::shared_ptr<const remote::RemoteObject> o) : ByteSource(o->target.name), o_(std::move(o)) {}
  std::size_t read_at(void* dst, std::size_t n, std::uint64_t offset) const override {
    return remote::BlockCache::here().read(o_, dst, n, offset);
  }
  std::uint64_t size() const override { return o_->size; }
  void prefetch(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges, bool now) const override {
    remote::BlockCache::here().prefetch(o_, ranges, now);
  }
  bool remote() const override { return true; }

 private:
  std::shared_ptr<const remote::RemoteObject> o_;
};

}  // namespace

std::shared_ptr<const ByteSource> open_source(const std::string& path) {
  if (is_url(path)) return std::make_shared<UrlSource>(remote::open_object(path));
  return open_file_source(path);
}

std::shared_ptr<const ByteSource> open_file_source(const std::string& path) {
  detail::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) throw SlideError(path, std::strerror(errno));
  return std::make_shared<FileSource>(path, std::move(fd), std::uint64_t(st.st_size));
}

}  // namespace pydmed
