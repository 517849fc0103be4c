#include "pydmed/engine/distributed.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "pydmed/error.hpp"

namespace pydmed {
namespace {

// `text` as a whole number in [lo, hi], or `fallback` when unset.
int parse(const char* name, const char* text, int lo, int hi, int fallback) {
  if (!text) return fallback;
  int v = 0;
  const char* end = text + std::strlen(text);
  const auto r = std::from_chars(text, end, v);
  if (*text == '\0' || r.ec != std::errc() || r.ptr != end || v < lo || v > hi) {
    throw OptionsError(name, "'" + std::string(text) + "' is not a whole number in [" + std::to_string(lo) + ", " +
                                 std::to_string(hi) + "]");
  }
  return v;
}

}  // namespace

DistributedEnv DistributedEnv::from(const char* rank, const char* world_size, const char* local_rank,
                                    const char* master_addr, const char* master_port) {
  constexpr int kMaxRanks = 1 << 20;
  DistributedEnv e;
  e.world_size = parse("WORLD_SIZE", world_size, 1, kMaxRanks, 1);
  e.rank = parse("RANK", rank, 0, e.world_size - 1, 0);
  e.local_rank = parse("LOCAL_RANK", local_rank, 0, kMaxRanks, 0);
  e.master_addr = master_addr ? master_addr : "";
  e.master_port = parse("MASTER_PORT", master_port, 1, 65535, 0);
  return e;
}

DistributedEnv DistributedEnv::from_env() {
  return from(std::getenv("RANK"), std::getenv("WORLD_SIZE"), std::getenv("LOCAL_RANK"), std::getenv("MASTER_ADDR"),
              std::getenv("MASTER_PORT"));
}

}  // namespace pydmed
