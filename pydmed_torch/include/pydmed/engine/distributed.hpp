#pragma once
// torchrun's conventions: what a launcher tells each process of a data-parallel job. Feed the
// loader its share with Options().rank(env.rank).world_size(env.world_size).
#include <string>

namespace pydmed {

struct DistributedEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;  // "" when unset
  int master_port = 0;      // 0 when unset

  // From RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; unset ones keep the
  // defaults above (one process). Throws OptionsError naming the variable for a value that is
  // not a whole number in range (RANK in [0, WORLD_SIZE), a port in [1, 65535]).
  static DistributedEnv from_env();
  // The same rule with the values explicit (null: unset).
  static DistributedEnv from(const char* rank, const char* world_size, const char* local_rank, const char* master_addr,
                             const char* master_port);
};

}  // namespace pydmed
