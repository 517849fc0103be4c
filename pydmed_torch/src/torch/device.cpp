#include "pydmed/torch/device.hpp"

#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <string>

#include "pydmed/error.hpp"

namespace pydmed {

namespace {

int parse_local_rank(const char* text) {
  const std::string s = text;
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0 || v > 1 << 16)
    throw OptionsError("device", "LOCAL_RANK='" + s + "' is not a GPU index");
  return int(v);
}

torch::Device checked_cuda(int index, int cuda_devices, const std::string& why) {
  if (cuda_devices == 0) throw OptionsError("device", why + " asks for a CUDA device, and this machine has none");
  if (index >= cuda_devices)
    throw OptionsError("device", why + " asks for cuda:" + std::to_string(index) + ", and this machine has " +
                                     std::to_string(cuda_devices) + " CUDA device" + (cuda_devices == 1 ? "" : "s"));
  return torch::Device(torch::kCUDA, c10::DeviceIndex(index));
}

}  // namespace

torch::Device resolve_device(const torch::optional<torch::Device>& asked, const char* local_rank, int cuda_devices,
                             int current_cuda_index) {
  const bool has_rank = local_rank != nullptr && *local_rank != '\0';
  if (!asked) {
    if (!has_rank || cuda_devices == 0) return torch::kCPU;
    return checked_cuda(parse_local_rank(local_rank), cuda_devices, "LOCAL_RANK");
  }
  if (!asked->is_cuda()) return *asked;
  if (asked->has_index()) return checked_cuda(asked->index(), cuda_devices, "the device option");
  if (has_rank) return checked_cuda(parse_local_rank(local_rank), cuda_devices, "LOCAL_RANK");
  return checked_cuda(current_cuda_index, cuda_devices, "the device option");
}

torch::Device resolve_device(const torch::optional<torch::Device>& asked) {
  const int count = int(torch::cuda::device_count());
  // The current GPU is the calling thread's: resolved here, once, so the threads that assemble
  // batches later all use the same one.
  const int current = count > 0 ? int(c10::impl::VirtualGuardImpl(torch::kCUDA).getDevice().index()) : 0;
  return resolve_device(asked, std::getenv("LOCAL_RANK"), count, current);
}

}  // namespace pydmed
