#pragma once
// Private: where a reader's bytes come from, by range: a local file (pread) today, an object
// store later. The readers that index their tiles (the tile grid, the DICOM frame index) read
// through it only, so a new source needs no new reader.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pydmed {

class ByteSource {
 public:
  explicit ByteSource(std::string name) : name_(std::move(name)) {}
  virtual ~ByteSource() = default;
  // Up to `n` bytes at `offset` into `dst`; fewer only where the source ends. Throws SlideError
  // naming the source on an I/O error. Safe from any thread, and across fork.
  virtual std::size_t read_at(void* dst, std::size_t n, std::uint64_t offset) const = 0;
  virtual std::uint64_t size() const = 0;
  const std::string& name() const { return name_; }  // the path, for messages

 private:
  std::string name_;
};

// A local file, opened read-only; throws SlideError naming it when it cannot be.
std::shared_ptr<const ByteSource> open_file_source(const std::string& path);

}  // namespace pydmed
