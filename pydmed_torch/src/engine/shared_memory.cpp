#include "engine/shared_memory.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "pydmed/error.hpp"

namespace pydmed::detail {

SharedMemory::SharedMemory(std::size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw Error("cannot map " + std::to_string(bytes) + " bytes of shared memory: " + std::strerror(errno));
  }
  madvise(p, bytes, MADV_DONTDUMP);  // patient data stays out of core dumps
  data_ = static_cast<std::uint8_t*>(p);
}

SharedMemory::~SharedMemory() {
  if (data_) munmap(data_, size_);
}

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    if (data_) munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

}  // namespace pydmed::detail
