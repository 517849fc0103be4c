#pragma once
// Private: one FeatureExtractor::run, as a class whose steps are its methods. Threads: all of it
// runs on run()'s thread; only loader().stop() may come from another (FeatureExtractor::stop).
//
// A slide's windows arrive mixed with other slides' and wait in their slide's batch; each full
// batch goes through the model and its rows (x, y and D floats) onto the slide's spool
// (DIR/<name>.h5.rows, an output of the ResumableRun, committed with the loader's positions);
// once a slide's windows have all arrived its spool becomes DIR/<name>.h5.
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pydmed/extensions/feature_file.hpp"
#include "pydmed/extensions/resumable_run.hpp"
#include "pydmed/torch/feature_extractor.hpp"
#include "pydmed/torch/light_dl.hpp"

namespace pydmed::detail {

// One slide's part of the run.
struct SlideSpool {
  std::size_t index = 0;  // in the dataset and in the files
  std::string name;       // its output's name in the ResumableRun (the patient id)
  std::int64_t arrived = 0;                     // windows that reached run() this run
  std::chrono::steady_clock::time_point first;  // when its first window this run arrived
  // Windows waiting for their slide's batch: the model sees each slide's windows in batches of
  // batch_size from the slide's first window, whatever the loader mixed and wherever a run
  // stopped, so a resumed run computes every row exactly as an uninterrupted one.
  std::vector<torch::Tensor> waiting;
  std::vector<ChunkRecord> waiting_records;
  int level = -1;
  bool done = false, earlier = false;
};

class EmbedRun {
 public:
  // `files`: each patient's DIR/<name>.h5; `state_lock`: the state's, held by the extractor.
  EmbedRun(const Dataset& dataset, const FeatureExtractor::Model& model, const FeatureExtractorOptions& options,
           const std::vector<std::string>& files, const RunLock& state_lock, std::int64_t dim);

  LightDL& loader() { return dl_; }
  // Every slide not done: windows in, files out. Returns the slides whose files are complete.
  std::vector<EmbeddedSlide> run();

  // What shapes the files: the state's `run` (a resumed run must match it) and their attributes.
  static nlohmann::json arguments(const Dataset& dataset, const FeatureExtractorOptions& o, const nlohmann::json& attributes,
                                  std::int64_t dim);
  // The attributes every file carries: the user's and the run's settings.
  static nlohmann::json file_attributes(const FeatureExtractorOptions& o);
  // A spool's rows as a FeatureFile (Error naming it when not whole rows of `dim`).
  static FeatureFile read_spool(const std::string& path, std::int64_t dim);

 private:
  std::map<std::int64_t, SlideSpool> slides_from_state();  // what an earlier run finished or began
  std::string spool_path(std::size_t index) const;  // DIR/<name>.h5.rows
  OutputFile& spool(std::int64_t id);  // opened when first needed, refused when it cannot fit
  void take(const Batch& batch);       // windows to their slides' batches, full ones embedded
  void embed_waiting(std::int64_t id);
  void finish_ready();                 // slides that finished producing and whose windows all arrived
  void finish(std::int64_t id);        // the spool becomes the slide's .h5
  void commit();
  void tell(std::int64_t id, bool finished);
  std::string path_of(const SlideSpool& s) const;

  const Dataset& dataset_;
  const FeatureExtractor::Model& model_;
  const FeatureExtractorOptions& o_;
  const std::vector<std::string>& files_;
  const std::int64_t dim_;
  const std::size_t row_bytes_;
  const nlohmann::json attributes_;
  ResumableRun run_;
  std::map<std::int64_t, SlideSpool> slides_;
  LightDL dl_;
  torch::Tensor mean_, std_;  // [1, 3, 1, 1] on the device
  EmbedProgress shown_;
};

}  // namespace pydmed::detail
