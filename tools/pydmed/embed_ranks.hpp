#pragma once
// pydmed embed across ranks, as torchrun starts them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT): the ranks meet at rank 0's c10d TCPStore, rank 0 lists the slides still to do
// (largest first) and holds the output folder's lock for the job, and every rank claims slides
// one at a time (SlideClaims), embeds each into a folder of its claim and publishes the file
// only if its claim still stands. Finished files are the record: the same command again skips them.
#include <functional>
#include <string>
#include <vector>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/distributed.hpp"
#include "pydmed/torch/feature_extractor.hpp"

namespace pydmed::cli {

struct RankJob {
  DistributedEnv env;
  std::string out;  // the job's output folder, shared by every rank
  double lease_s = 60, timeout_s = 300;
  // Embeds a dataset of one patient into `dir`: what FeatureExtractor::run returns, and its errors
  // said on stderr.
  std::function<std::vector<EmbeddedSlide>(Dataset one, const std::string& dir)> embed;
  bool skipped_any = false;                          // the source skipped entries: the job is not complete
  std::function<bool()> interrupted = [] { return false; };  // Ctrl-C or SIGTERM: stop after this slide
  std::function<int()> interrupt_status = [] { return 130; };
};

// This rank's part of the job; returns its exit status. Prints the rank's JSON line on stdout;
// rank 0 writes index.tsv once every slide is done, and waits for the others before it ends.
int run_embed_ranks(const RankJob& job, const Dataset& ds);

}  // namespace pydmed::cli
