#pragma once
// Which device a LightDL's batches go to: one GPU per rank under torchrun, as DDP expects.
#include <torch/types.h>

namespace pydmed {

// Unset: cuda:LOCAL_RANK when torchrun's LOCAL_RANK is set and CUDA is available, else the CPU.
// A CUDA device without an index: cuda:LOCAL_RANK, else the calling thread's current GPU.
// Anything else is used as given. Throws OptionsError for a LOCAL_RANK that is not an index of
// this machine's GPUs, or a CUDA device on a machine without one.
torch::Device resolve_device(const torch::optional<torch::Device>& asked);

// The rule with its inputs explicit: the LOCAL_RANK variable (null when unset), how many CUDA
// devices there are, and the current one's index.
torch::Device resolve_device(const torch::optional<torch::Device>& asked, const char* local_rank, int cuda_devices,
                             int current_cuda_index);

}  // namespace pydmed
