#pragma once
// Private: where a reader's bytes come from, by range: a local file (pread) or a URL (HTTP
// ranges through the process's block cache, src/remote/). The readers that index their tiles
// (the tile grid, the DICOM frame index, the TIFF directory parser) read through it only, so
// they read URLs as they read files.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pydmed {

class ByteSource {
 public:
  explicit ByteSource(std::string name) : name_(std::move(name)) {}
  virtual ~ByteSource() = default;
  // Up to `n` bytes at `offset` into `dst`; fewer only where the source ends. Throws SlideError
  // naming the source on an I/O error. Safe from any thread, and across fork.
  virtual std::size_t read_at(void* dst, std::size_t n, std::uint64_t offset) const = 0;
  virtual std::uint64_t size() const = 0;
  // Byte ranges (offset, length) to be read soon (`now`: by the read that is starting, ahead of
  // any look-ahead): a remote source starts fetching them, several requests in flight, and
  // returns at once. Local files need nothing.
  virtual void prefetch(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& /*ranges*/, bool /*now*/) const {}
  virtual bool remote() const { return false; }
  const std::string& name() const { return name_; }  // the path, or the URL without query, for messages

 private:
  std::string name_;
};

// A local file, opened read-only; throws SlideError naming it when it cannot be.
std::shared_ptr<const ByteSource> open_file_source(const std::string& path);
// A local file or, for an http(s)/s3 URL, the remote object (one request to open, then cached
// per process). Throws SlideError naming it.
std::shared_ptr<const ByteSource> open_source(const std::string& path);

}  // namespace pydmed
