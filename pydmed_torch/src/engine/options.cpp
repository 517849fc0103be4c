#include "pydmed/engine/options.hpp"

#include <unistd.h>

#include <algorithm>
#include <string>

#include "engine/collector_slot.hpp"
#include "engine/ring.hpp"
#include "pydmed/error.hpp"

namespace pydmed {

namespace {
void check_cores(const char* name, const std::vector<int>& cores) {
  const long n = sysconf(_SC_NPROCESSORS_CONF);
  for (int c : cores) {
    if (c < 0 || c >= n) {
      throw OptionsError(
          std::string("core_assignment.") + name,
          "core " + std::to_string(c) + " does not exist (this machine has cores 0 to " + std::to_string(n - 1) + ")");
    }
  }
}
}  // namespace

void Options::validate() const {
  if (num_bigchunkloaders() < 1) throw OptionsError("num_bigchunkloaders", "must be at least 1");
  if (num_bigchunkloaders() > 1024) throw OptionsError("num_bigchunkloaders", "more than 1024 collector processes");
  if (maxlength_queue_smallchunk() < 1) throw OptionsError("maxlength_queue_smallchunk", "must be at least 1");
  if (batch_size() < 1) throw OptionsError("batch_size", "must be at least 1");
  if (maxlength_queue_lightdl() < batch_size()) {
    throw OptionsError("maxlength_queue_lightdl", std::to_string(maxlength_queue_lightdl()) +
                                                      " is too small for one batch of " + std::to_string(batch_size()));
  }
  if (maxlength_queue_lightdl() < maxlength_queue_smallchunk()) {
    throw OptionsError("maxlength_queue_lightdl",
                       "must hold at least one collector's queue (maxlength_queue_smallchunk = " +
                           std::to_string(maxlength_queue_smallchunk()) + ")");
  }
  if (long(num_bigchunkloaders()) * maxlength_queue_smallchunk() < batch_size()) {
    throw OptionsError("maxlength_queue_smallchunk",
                       "the collectors' queues together (" +
                           std::to_string(long(num_bigchunkloaders()) * maxlength_queue_smallchunk()) +
                           " slots) are too small for one batch of " + std::to_string(batch_size()));
  }
  if (!(interval_resched() > 0)) throw OptionsError("interval_resched", "must be a positive number of seconds");
  if (!(bigchunk_timeout() > 0)) throw OptionsError("bigchunk_timeout", "must be a positive number of seconds");
  if (max_failures() < 1) throw OptionsError("max_failures", "must be at least 1");
  if (decode_threads() < 1 || decode_threads() > 64) throw OptionsError("decode_threads", "must be between 1 and 64");
  const PatchShape& p = patch_shape();
  if (p.height < 1 || p.width < 1 || p.channels < 1)
    throw OptionsError("patch_shape", "every dimension must be positive");
  if (p.bytes() > max_bigchunk_bytes()) throw OptionsError("patch_shape", "a patch is larger than max_bigchunk_bytes");
  if (max_checkpoint_bytes() < 16) throw OptionsError("max_checkpoint_bytes", "must be at least 16");
  if (world_size() < 1) throw OptionsError("world_size", "must be at least 1");
  if (rank() < 0 || rank() >= world_size()) {
    throw OptionsError("rank",
                       std::to_string(rank()) + " is not in [0, world_size = " + std::to_string(world_size()) + ")");
  }
  check_cores("lightdl", core_assignment().lightdl);
  check_cores("smallchunkcollectors", core_assignment().smallchunkcollectors);
  check_cores("bigchunkloaders", core_assignment().bigchunkloaders);
}

MemoryPlan Options::memory_plan(std::size_t slide_bytes) const {
  validate();
  MemoryPlan m;
  const std::size_t n = std::size_t(num_bigchunkloaders());
  const std::size_t stride = detail::Ring::slot_stride(max_smallchunk_info_bytes(), patch_shape().bytes());
  // What the slots map, as they lay it out (the doorbell's line aside).
  const detail::CollectorSlot::Bytes slot = detail::CollectorSlot::bytes_by_part(*this);
  m.rings = n * slot.ring;
  m.bigchunks = n * (slot.bigchunks + loader_scratch_bytes());
  m.control = n * slot.control + detail::kDoorbellBytes;
  // Swaps wait until the root queue is empty, so it never holds more than every ring's worth.
  m.root_queue =
      std::min(std::size_t(maxlength_queue_lightdl()), n * std::size_t(maxlength_queue_smallchunk())) * stride;
  m.slides = slide_bytes;
  m.budget = memory_budget_bytes();
  if (m.budget == 0) m.budget = std::size_t(sysconf(_SC_PHYS_PAGES)) * std::size_t(sysconf(_SC_PAGE_SIZE)) / 2;
  if (m.total() > m.budget) {
    auto mib = [](std::size_t b) { return std::to_string(b >> 20) + " MiB"; };
    throw OptionsError("memory_budget_bytes", "these options need " + mib(m.total()) + " (rings " + mib(m.rings) +
                                                  ", BigChunk buffers " + mib(m.bigchunks) + ", root queue " +
                                                  mib(m.root_queue) + ", control " + mib(m.control) + ", open slides " +
                                                  mib(m.slides) + ") but the budget is " + mib(m.budget));
  }
  return m;
}

}  // namespace pydmed
