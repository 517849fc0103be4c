#pragma once
// Anonymous shared memory: made before fork, inherited by children, never named. Nothing under
// /dev/shm, nothing another user (or a later process) can open, nothing to leak.
#include <cstddef>
#include <cstdint>

namespace pydmed::detail {

class SharedMemory {
 public:
  SharedMemory() = default;
  explicit SharedMemory(std::size_t bytes);  // zero-filled; throws Error naming the size
  ~SharedMemory();
  SharedMemory(SharedMemory&& o) noexcept;
  SharedMemory& operator=(SharedMemory&& o) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace pydmed::detail
