#pragma once
// PyDmed's StreamCollector: runs a loader, applies the user's process_pieceofstream to each
// batch, and keeps per-patient results in one of three modes: accumulate a statistic, save
// every output (collated per patient), or stream every output to CSV.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pydmed/extensions/sliding_window.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/extensions/resumable_run.hpp"
#include "pydmed/torch/light_dl.hpp"

namespace pydmed {

enum class CollectMode { Accumulate, SaveAll, StreamToFile };

struct StreamCollectorOptions {
  StreamCollectorOptions() {}
  PYDMED_ARG(CollectMode, mode) = CollectMode::SaveAll;
  // StreamToFile: one CSV for all patients, or (csv_folder) one CSV per patient,
  // patient_<id>.csv, in a folder that must be empty. Rows: patient,x,y,level,width,height,v0,...
  PYDMED_ARG(std::string, csv_file) = "";
  PYDMED_ARG(std::string, csv_folder) = "";
  PYDMED_ARG(std::size_t, batch_size) = 64;
  // StreamToFile into csv_file only: resumable. The CSV and this state (the loader's, with how
  // far the CSV was committed) are saved together every state_every seconds and at the end; a
  // StreamCollector made again the same way goes on from there. Over a SlidingWindowDL every
  // window is written once across any number of stops (a crash included); over random patches
  // the loader goes on with new visits.
  PYDMED_ARG(std::string, state_file) = "";
  PYDMED_ARG(double, state_every) = 1.0;
};

class StreamCollector {
 public:
  // process_pieceofstream: one row of outputs per SmallChunk, [B, D] (or [B]).
  using ProcessFn = std::function<torch::Tensor(Batch& batch)>;
  // accum_statistics: a patient's new statistic from its previous one (undefined at first),
  // and its rows of the batch's outputs with their records.
  using AccumFn = std::function<torch::Tensor(const torch::Tensor& previous, const torch::Tensor& outputs,
                                              const std::vector<ChunkRecord>& records)>;
  // get_flag_finishcollecting: true stops the collection.
  using FinishFn = std::function<bool(const StreamCollector&)>;

  // Throws Error for a missing accum function in Accumulate mode, a missing CSV target in
  // StreamToFile mode, or a non-empty CSV folder (naming it).
  StreamCollector(LightDL dl, ProcessFn process, StreamCollectorOptions options = {}, AccumFn accum = nullptr,
                  FinishFn finish = nullptr);

  // Until the loader ends or finish() says so; then the CSV files are closed (a write that
  // failed throws, naming the file). Returns the number of SmallChunks processed.
  std::uint64_t run();

  struct Collected {
    torch::Tensor outputs;  // [N, D], in delivery order
    std::vector<ChunkRecord> records;
  };
  const std::map<std::int64_t, torch::Tensor>& statistics() const { return stats_; }  // Accumulate
  const std::map<std::int64_t, Collected>& collected() const { return collected_; }   // SaveAll
  std::uint64_t processed() const { return processed_; }
  // The loader's progress (LightDLCore::progress) with the items this collector processed.
  RunProgress progress() const;
  LightDL& loader() { return dl_; }

 private:
  void write_rows(const torch::Tensor& outputs, const std::vector<ChunkRecord>& records);
  std::int64_t csv_for(std::int64_t patient, std::int64_t columns);  // the file's key, headed

  LightDL dl_;
  ProcessFn process_;
  StreamCollectorOptions options_;
  AccumFn accum_;
  FinishFn finish_;
  std::map<std::int64_t, torch::Tensor> stats_;
  std::map<std::int64_t, Collected> collected_;
  std::map<std::int64_t, std::vector<torch::Tensor>> pieces_;
  std::map<std::int64_t, std::unique_ptr<OutputFile>> files_;
  std::set<std::int64_t> headed_;  // files whose header line is written
  // With state_file: the CSV and where the loader stands, committed together.
  void write_line(std::int64_t key, const std::string& line);
  nlohmann::json saved_progress() const;  // what the state keeps besides the loader
  std::unique_ptr<ResumableRun> resumable_;
  OutputFile* csv_ = nullptr;  // resumable_'s output
  bool windows_ = false;       // over sliding windows: delivered positions are committed
  std::uint64_t rows_ = 0;
  std::uint64_t processed_ = 0;
};

}  // namespace pydmed
