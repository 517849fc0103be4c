#include "pydmed/torch/stream_collector.hpp"

#include <torch/torch.h>

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
    } else {
      files_[-1] = std::make_unique<OutputFile>(options_.csv_file());
    }
  }
}

OutputFile& StreamCollector::csv_for(std::int64_t patient, std::int64_t columns) {
  const std::int64_t key = options_.csv_folder().empty() ? -1 : patient;
  auto it = files_.find(key);
  if (it == files_.end()) {
    const std::string path = options_.csv_folder() + "/patient_" + std::to_string(patient) + ".csv";
    // One file a patient, maybe thousands open: a small buffer each.
    it = files_.emplace(key, std::make_unique<OutputFile>(path, OutputFile::Mode::Direct, 64 << 10)).first;
  }
  if (headed_.insert(key).second) {
    std::string header = "patient,x,y,level,width,height";
    for (std::int64_t k = 0; k < columns; ++k) header += ",v" + std::to_string(k);
    it->second->write(header + '\n');
  }
  return *it->second;
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
    csv_for(r.patient, rows.size(1)).write(line + '\n');
  }
}

std::uint64_t StreamCollector::run() {
  while (!(finish_ && finish_(*this))) {
    Batch b = dl_.get_batch(options_.batch_size());
    if (b.empty()) break;  // the loader has ended
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
  }
  for (auto& [p, v] : pieces_) {  // collate per patient
    torch::Tensor& o = collected_[p].outputs;
    o = o.defined() ? torch::cat({o, torch::stack(v)}) : torch::stack(v);
  }
  pieces_.clear();
  // The run is over (the loader ended or finish_ said so): close, so that a write error
  // (a full disk, NFS at close) throws here, naming the file.
  for (auto& [k, f] : files_) f->close();
  return processed_;
}

}  // namespace pydmed
