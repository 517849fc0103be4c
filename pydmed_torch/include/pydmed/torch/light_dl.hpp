#pragma once
// PyDmed's LightDL as a LibTorch StreamDataset: plug it into torch::data::make_data_loader.
//
//   pydmed::LightDL dl(dataset, pydmed::random_bigchunk_loader(), pydmed::random_smallchunk_collector(),
//                      pydmed::Options().num_bigchunkloaders(4), pydmed::TorchOptions().label("class"));
//   auto loader = torch::data::make_data_loader(dl, torch::data::samplers::StreamSampler(100000),
//                                               torch::data::DataLoaderOptions().batch_size(64));
//   for (auto& batch : *loader) { ... batch.data, batch.labels ... }
//
// Copies share one loader (the DataLoader copies the dataset into each worker thread), and
// get_batch is thread-safe, so DataLoaderOptions().workers(k) works for any k. On a GPU,
// get_batch makes the stream current on its calling thread wait for the batch's copy: with
// workers(k > 0) that is a worker's default stream, so train on the default stream then, or
// use workers(0) (the loader prefetches the next batch by itself).
#include <torch/data/datasets/base.h>
#include <torch/data/samplers/base.h>
#include <torch/data/samplers/stream.h>
#include <torch/types.h>

#include <memory>
#include <string>

#include "pydmed/torch/batch.hpp"
#include "pydmed/torch/collate.hpp"
#include "pydmed/torch/device.hpp"

namespace pydmed {

struct TorchOptions {
  TorchOptions() {}
  // Name of the patient label (Patient::labels) to put in Batch::labels. "": the dataset's
  // label when every patient has exactly one and the same, else none. Integer labels are used
  // as they are; other values become their index in label_names().
  PYDMED_ARG(std::string, label) = "";
  // Non-empty: Batch::labels are each patch's annotation class (its info "roi", see
  // RandomBigChunkOptions::roi) as an index into this list, instead of a patient label. A
  // class not in the list is an error naming it.
  PYDMED_ARG(std::vector<std::string>, roi_classes) = {};
  // Where batches go; unset or indexless, see resolve_device (cuda:LOCAL_RANK under torchrun).
  // A GPU: gathered into reused pinned buffers, copied as uint8 on a copy stream of the
  // loader's own, the collate's device stage run there; the training loop's stream waits on it.
  PYDMED_ARG(torch::optional<torch::Device>, device) = torch::nullopt;
  // The next batch assembled (and on its way to the device) while the current one trains.
  // Unset: on for GPUs, off on the CPU (where gathering is a memcpy).
  PYDMED_ARG(torch::optional<bool>, prefetch) = torch::nullopt;
  PYDMED_ARG(Collate, collate) = {};  // default: uint8 as gathered
};

// Ends the loop when the loader has finished (a finite run), or after max_examples.
class FinishSampler : public torch::data::samplers::Sampler<torch::data::samplers::BatchSize> {
 public:
  FinishSampler(std::shared_ptr<LightDLCore> core, std::size_t max_examples);
  void reset(torch::optional<std::size_t> new_size = torch::nullopt) override;
  torch::optional<torch::data::samplers::BatchSize> next(std::size_t batch_size) override;
  void save(torch::serialize::OutputArchive&) const override {}
  void load(torch::serialize::InputArchive&) override {}

 private:
  std::shared_ptr<LightDLCore> core_;
  std::size_t max_, given_ = 0;
};

class LightDL : public torch::data::datasets::StreamDataset<LightDL, Batch> {
 public:
  LightDL(Dataset dataset, LoaderFactory make_loader, CollectorFactory make_collector, Options options = {},
          TorchOptions torch_options = {}, std::shared_ptr<Scheduler> scheduler = nullptr);

  // Up to batch_size SmallChunks; fewer only at the end of a finite run; empty once finished.
  // The batch size may change from call to call (a sampler's last, shorter batch): a
  // prefetched batch of another size is split or topped up, never dropped.
  Batch get_batch(std::size_t batch_size) override;
  torch::optional<std::size_t> size() const override { return torch::nullopt; }

  // A sampler that ends the DataLoader's loop when this loader finishes (and after max_examples).
  FinishSampler sampler(std::size_t max_examples = SIZE_MAX) const;

  LightDLCore& core() const;  // stats, messages, statuses, errors, checkpoints
  LoaderStats stats() const { return core().stats(); }
  RunProgress progress() const { return core().progress(); }  // LightDLCore::progress
  // What each label code stands for (see LabelCoder::names): empty for integer labels.
  const std::vector<std::string>& label_names() const;
  const torch::Device& device() const;  // where batches go, resolved
  void stop() { core().stop(); }
  // Resumable state (LightDLCore::state): save it beside the model's checkpoint; restore() it
  // into a loader made the same way, before its first batch.
  nlohmann::json state() const { return core().state(); }
  void restore(const nlohmann::json& state) { core().restore(state); }

 private:
  struct Shared;
  struct Assembled;
  static Assembled assemble(const Shared& s, std::size_t n);
  static Batch hand_over(const Shared& s, Assembled a);
  std::shared_ptr<Shared> shared_;
};

}  // namespace pydmed
