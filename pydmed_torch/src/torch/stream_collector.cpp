#include "pydmed/torch/stream_collector.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "pydmed/error.hpp"

namespace fs = std::filesystem;

namespace pydmed {

StreamCollector::StreamCollector(LightDL dl, ProcessFn process, StreamCollectorOptions options, AccumFn accum,
                                 FinishFn finish)
    : dl_(std::move(dl)),
      process_(std::move(process)),
      options_(std::move(options)),
      accum_(std::move(accum)),
      finish_(std::move(finish)) {
  if (!process_) throw Error("StreamCollector: process_pieceofstream is missing");
  if (options_.mode() == CollectMode::Accumulate && !accum_)
    throw Error("StreamCollector: Accumulate mode needs accum_statistics");
  if (options_.mode() == CollectMode::StreamToFile) {
    if (options_.csv_file().empty() == options_.csv_folder().empty()) {
      throw Error("StreamCollector: StreamToFile needs exactly one of csv_file and csv_folder");
    }
    if (!options_.csv_folder().empty()) {
      const std::string& dir = options_.csv_folder();
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
      if (!fs::is_empty(dir, ec)) throw Error(dir + ": the output folder is not empty");
    } else if (options_.state_file().empty()) {
      files_[-1] = std::make_unique<OutputFile>(options_.csv_file());
    }
  }
  if (!options_.state_file().empty()) {
    if (options_.mode() != CollectMode::StreamToFile || options_.csv_file().empty()) {
      throw Error("StreamCollector: state_file needs StreamToFile into a csv_file");
    }
    // The header is written with the first rows (it names the output columns).
    resumable_ = std::make_unique<ResumableRun>(options_.state_file(),
                                                nlohmann::json{{"command", "StreamCollector"},
                                                               {"slides", dl_.core().dataset().records_by_id()},
                                                               {"slide_files", dl_.core().dataset().slide_stamps()}},
                                                options_.state_every());
    csv_ = &resumable_->output("out", options_.csv_file());
    if (resumable_->resumed()) {
      const nlohmann::json& saved = resumable_->progress();
      rows_ = saved.value("rows", std::uint64_t(0));
      if (rows_ > 0) headed_.insert(-1);
      windows_ = saved.value("windows", false);
    }
    resumable_->attach(dl_.core(), windows_ ? ResumableRun::Delivery::Windows : ResumableRun::Delivery::Visits);
  }
}

void StreamCollector::write_line(std::int64_t key, const std::string& line) {
  if (resumable_) return csv_->write(line);
  files_.at(key)->write(line);
}

nlohmann::json StreamCollector::saved_progress() const { return {{"windows", windows_}, {"rows", rows_}}; }

RunProgress StreamCollector::progress() const {
  RunProgress p = dl_.progress();
  p.items_done = std::int64_t(processed_);
  p.rate_per_s = p.elapsed_s > 0 ? double(processed_) / p.elapsed_s : 0;
  return p;
}

std::int64_t StreamCollector::csv_for(std::int64_t patient, std::int64_t columns) {
  const std::int64_t key = options_.csv_folder().empty() ? -1 : patient;
  auto it = files_.find(key);
  if (it == files_.end() && !resumable_) {
    const std::string path = options_.csv_folder() + "/patient_" + std::to_string(patient) + ".csv";
    // One file a patient, maybe thousands open: a small buffer each.
    it = files_.emplace(key, std::make_unique<OutputFile>(path, OutputFile::Mode::Direct, 64 << 10)).first;
  }
  if (headed_.insert(key).second) {
    std::string header = "patient,x,y,level,width,height";
    for (std::int64_t k = 0; k < columns; ++k) header += ",v" + std::to_string(k);
    write_line(key, header + '\n');
  }
  return key;
}

void StreamCollector::write_rows(const torch::Tensor& outputs, const std::vector<ChunkRecord>& records) {
  const torch::Tensor rows =
      outputs.reshape({std::int64_t(records.size()), -1}).to(torch::kCPU, torch::kFloat32).contiguous();
  const auto a = rows.accessor<float, 2>();
  for (std::size_t i = 0; i < records.size(); ++i) {
    const ChunkRecord& r = records[i];
    std::string line = std::to_string(r.patient) + ',' + std::to_string(r.x) + ',' + std::to_string(r.y) + ',' +
                       std::to_string(r.level) + ',' + std::to_string(r.width) + ',' + std::to_string(r.height);
    for (std::int64_t k = 0; k < rows.size(1); ++k) {
      char v[32];
      std::snprintf(v, sizeof v, ",%g", double(a[std::int64_t(i)][k]));  // as iostreams print a float
      line += v;
    }
    write_line(csv_for(r.patient, rows.size(1)), line + '\n');
    if (resumable_) resumable_->delivered(r);
    ++rows_;
  }
}

std::uint64_t StreamCollector::run() {
  while (!(finish_ && finish_(*this))) {
    Batch b = dl_.get_batch(options_.batch_size());
    if (b.empty()) break;  // the loader has ended
    // Over sliding windows (their records say where they lie in the plan), positions are
    // tracked so that a resume serves each window once.
    if (resumable_ && rows_ == 0 && !windows_ && std::all_of(b.records.begin(), b.records.end(), WindowProgress::is_window)) {
      windows_ = true;
      resumable_->track_windows();
    }
    const torch::Tensor out = process_(b);
    if (out.size(0) != std::int64_t(b.size()))
      throw Error("StreamCollector: process_pieceofstream must return one row per SmallChunk");
    switch (options_.mode()) {
      case CollectMode::StreamToFile:
        write_rows(out, b.records);
        break;
      case CollectMode::SaveAll:
        for (std::size_t i = 0; i < b.size(); ++i) {
          auto& c = collected_[b.records[i].patient];
          pieces_[b.records[i].patient].push_back(out[std::int64_t(i)].detach().to(torch::kCPU));
          c.records.push_back(b.records[i]);
        }
        break;
      case CollectMode::Accumulate: {
        std::map<std::int64_t, std::vector<std::int64_t>> rows;
        for (std::size_t i = 0; i < b.size(); ++i) rows[b.records[i].patient].push_back(std::int64_t(i));
        for (auto& [p, idx] : rows) {
          std::vector<ChunkRecord> recs;
          for (auto i : idx) recs.push_back(b.records[std::size_t(i)]);
          const torch::Tensor mine = out.index_select(0, torch::tensor(idx, torch::kInt64).to(out.device()));
          auto it = stats_.find(p);
          stats_[p] = accum_(it == stats_.end() ? torch::Tensor() : it->second, mine, recs);
        }
        break;
      }
    }
    processed_ += b.size();
    if (resumable_ && resumable_->due()) resumable_->commit(saved_progress());
  }
  for (auto& [p, v] : pieces_) {  // collate per patient
    torch::Tensor& o = collected_[p].outputs;
    o = o.defined() ? torch::cat({o, torch::stack(v)}) : torch::stack(v);
  }
  pieces_.clear();
  // The run is over (the loader ended or finish_ said so): close, so that a write error
  // (a full disk, NFS at close) throws here, naming the file.
  for (auto& [k, f] : files_) f->close();
  if (resumable_) resumable_->close(saved_progress());
  return processed_;
}

}  // namespace pydmed
