#pragma once
// What the LibTorch face hands to the training loop.
#include <torch/types.h>

#include <vector>

#include "pydmed/engine/light_dl_core.hpp"

namespace pydmed {

struct Batch {
  torch::Tensor data;                // [B, C, H, W]: uint8 by default (a channels-last view of the slots)
  torch::Tensor patients;            // [B] int64 patient ids
  torch::Tensor coords;              // [B, 3] int64: x, y (level-0 pixels), level
  torch::Tensor labels;              // [B] int64, when TorchOptions::label names a label; else undefined
  std::vector<ChunkRecord> records;  // each SmallChunk's full record (visit, BigChunk, info JSON)

  std::size_t size() const { return records.size(); }
  bool empty() const { return records.empty(); }  // the end of a finite run
};

}  // namespace pydmed
