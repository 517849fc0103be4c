#include "torch/embed_run.hpp"

#include <sys/statvfs.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/feature_file.hpp"
#include "pydmed/torch/extension_dls.hpp"
#include "torch/model_call.hpp"

#ifndef PYDMED_VERSION
#define PYDMED_VERSION "unknown"
#endif

namespace fs = std::filesystem;

namespace pydmed::detail {

namespace {

// A spool row: x, y (int64), then D floats.
constexpr std::size_t kCoordBytes = 2 * sizeof(std::int64_t);

// At most how many windows a slide has (a row and a column more than the grid, whatever the
// edge rule): what its spool may need.
std::uint64_t window_bound(const Record& record, const SlidingWindowOptions& sw) {
  const Slide slide = open_record_slide(record);
  double w = 0, h = 0;
  if (sw.mpp() > 0 && slide.mpp_x() && slide.mpp_y()) {
    w = double(slide.levels()[0].width) * *slide.mpp_x() / sw.mpp();
    h = double(slide.levels()[0].height) * *slide.mpp_y() / sw.mpp();
  } else {
    const LevelInfo& l = slide.level(std::min(sw.level(), slide.level_count() - 1));
    w = double(l.width), h = double(l.height);
  }
  auto along = [&](double n) { return std::uint64_t(std::max(0.0, (n - sw.kernel()) / sw.stride()) + 2); };
  return along(w) * along(h);
}

std::uint64_t free_bytes(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return std::numeric_limits<std::uint64_t>::max();
  return std::uint64_t(st.f_bavail) * std::uint64_t(st.f_frsize);
}

torch::Tensor channel(const std::vector<double>& v, const torch::Device& device) {
  return torch::tensor(std::vector<float>(v.begin(), v.end())).view({1, 3, 1, 1}).to(device);
}

LightDL make_loader(const Dataset& dataset, const FeatureExtractorOptions& o) {
  return SlidingWindowDL(dataset, o.windows(),
                         Options()
                             .num_bigchunkloaders(o.collectors())
                             .batch_size(o.batch_size())
                             .maxlength_queue_smallchunk(std::max<std::size_t>(64, o.batch_size())),
                         // uint8 as gathered: windows wait for their slide's batch at a quarter of the
                         // bytes, and are made float there.
                         TorchOptions().device(o.device()));
}

}  // namespace

nlohmann::json EmbedRun::file_attributes(const FeatureExtractorOptions& o) {
  const SlidingWindowOptions& sw = o.windows();
  nlohmann::json a = o.attributes();
  a.update({{"mpp", sw.mpp()},
            {"kernel", sw.kernel()},
            {"stride", sw.stride()},
            {"patch_size", sw.kernel()},
            {"min_tissue", sw.min_tissue()},
            {"pydmed_version", PYDMED_VERSION}});
  return a;
}

nlohmann::json EmbedRun::arguments(const Dataset& dataset, const FeatureExtractorOptions& o,
                                   const nlohmann::json& attributes, std::int64_t dim) {
  const SlidingWindowOptions& sw = o.windows();
  return {{"command", "embed"},
          {"attributes", attributes},
          {"slides", dataset.records_by_id()},
          {"slide_files", dataset.slide_stamps()},
          {"upsample", sw.upsample()},
          {"level", sw.level()},
          {"roi", int(sw.roi())},
          {"min_roi_fraction", sw.min_roi_fraction()},
          {"mean", o.mean()},
          {"std", o.std()},
          {"dim", dim}};
}

FeatureFile EmbedRun::read_spool(const std::string& path, std::int64_t dim) {
  const std::size_t row_bytes = kCoordBytes + std::size_t(dim) * sizeof(float);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) throw Error(path + ": cannot read the spool");
  if (bytes.size() % row_bytes != 0) throw Error(path + ": not whole rows of " + std::to_string(dim) + " features");
  FeatureFile f;
  f.rows = std::int64_t(bytes.size() / row_bytes);
  f.dim = dim;
  f.features.resize(std::size_t(f.rows * dim));
  f.coords.resize(std::size_t(f.rows * 2));
  for (std::int64_t r = 0; r < f.rows; ++r) {
    const char* row = bytes.data() + std::size_t(r) * row_bytes;
    std::memcpy(&f.coords[std::size_t(r * 2)], row, kCoordBytes);
    std::memcpy(&f.features[std::size_t(r * dim)], row + kCoordBytes, std::size_t(dim) * sizeof(float));
  }
  return f;
}

EmbedRun::EmbedRun(const Dataset& dataset, const FeatureExtractor::Model& model, const FeatureExtractorOptions& o,
                   const std::vector<std::string>& files, const RunLock& state_lock, std::int64_t dim)
    : dataset_(dataset),
      model_(model),
      o_(o),
      files_(files),
      dim_(dim),
      row_bytes_(kCoordBytes + std::size_t(dim) * sizeof(float)),
      attributes_(file_attributes(o)),
      run_(o.state_file(), state_lock, arguments(dataset, o, attributes_, dim), o.state_every()),
      slides_(slides_from_state()),
      dl_(make_loader(dataset, o)),
      mean_(channel(o.mean(), o.device())),
      std_(channel(o.std(), o.device())) {
  // The loader goes on from the saved positions; finished slides are never loaded again.
  run_.attach(dl_.core(), ResumableRun::Delivery::Windows);
  shown_.slides_total = std::int64_t(slides_.size());
  for (const auto& [id, s] : slides_) shown_.slides_done += s.done;
}

std::map<std::int64_t, SlideSpool> EmbedRun::slides_from_state() {
  std::map<std::int64_t, SlideSpool> slides;
  const nlohmann::json saved =
      run_.resumed() ? run_.progress().value("slides", nlohmann::json::object()) : nlohmann::json::object();
  std::optional<LoaderState>& loader = run_.saved_loader();
  for (std::size_t i = 0; i < dataset_.list_patients.size(); ++i) {
    const std::int64_t id = dataset_.list_patients[i].int_uniqueid;
    SlideSpool& s = slides[id];
    s.index = i;
    s.name = std::to_string(id);
    // A spool an earlier run began goes on after what it committed (a missing or shorter one: an
    // error now, not when its slide comes round).
    if (run_.committed(s.name) > 0) run_.output(s.name, spool_path(i), {}, /*text=*/false);
    const nlohmann::json mine = saved.value(s.name, nlohmann::json());
    if (!mine.is_object()) continue;
    s.level = mine.value("level", -1);
    if (!mine.value("done", false)) continue;
    // Finished earlier; if its file has gone since, it is made again from the start.
    s.done = s.earlier = fs::exists(files_[i]);
    if (s.done) run_.keep_finished(id);
    if (loader && s.done) loader->mark_finished(id);
    if (loader && !s.done) loader->reset(id);
  }
  return slides;
}

std::string EmbedRun::path_of(const SlideSpool& s) const {
  return dataset_.list_patients[s.index].record(o_.windows().record()).path();
}

std::string EmbedRun::spool_path(std::size_t index) const { return files_[index] + ".rows"; }

// Open already when an earlier run began it (slides_from_state); else made now.
OutputFile& EmbedRun::spool(std::int64_t id) {
  SlideSpool& s = slides_.at(id);
  const std::string path = spool_path(s.index);
  if (run_.has_output(s.name)) return run_.output(s.name, path);
  // A slide whose rows cannot fit is refused before its spool fills the disk.
  const std::uint64_t need =
      window_bound(dataset_.list_patients[s.index].record(o_.windows().record()), o_.windows()) * row_bytes_;
  const std::uint64_t free = free_bytes(o_.out_dir());
  if (need > free) {
    throw Error(path_of(s) + ": its features may need " + std::to_string(need >> 20) + " MiB (" +
                std::to_string(dim_) + " floats a window), more than the " + std::to_string(free >> 20) +
                " MiB free in " + o_.out_dir());
  }
  return run_.output(s.name, path, {}, /*text=*/false);
}

void EmbedRun::take(const Batch& b) {
  for (std::size_t i = 0; i < b.size(); ++i) {
    const ChunkRecord& r = b.records[i];
    SlideSpool& s = slides_.at(r.patient);
    s.waiting.push_back(b.data.narrow(0, std::int64_t(i), 1).clone());
    s.waiting_records.push_back(r);
    if (s.arrived++ == 0) s.first = std::chrono::steady_clock::now();
    ++shown_.windows_done;
    if (s.waiting.size() == o_.batch_size()) embed_waiting(r.patient);
  }
  if (!b.empty()) tell(b.records.back().patient, false);
}

// A slide's waiting windows through the model, into its spool (and only then into the
// positions a state saves).
void EmbedRun::embed_waiting(std::int64_t id) {
  SlideSpool& s = slides_.at(id);
  if (s.waiting.empty()) return;
  const torch::Tensor x =
      ((torch::cat(s.waiting).to(torch::kFloat) / 255 - mean_) / std_).contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor y = call_model(model_, x, o_.model_name(), dim_);
  // NaN or Inf features poison every model trained on the file: refused, naming the window.
  const torch::Tensor bad = torch::logical_not(torch::isfinite(y)).any(1);
  if (bad.any().item<bool>()) {
    const std::int64_t i = bad.nonzero()[0][0].item<std::int64_t>();
    const ChunkRecord& r = s.waiting_records[std::size_t(i)];
    throw Error(o_.model_name() + ": returned NaN or infinite features for " + path_of(s) + ", window at (" +
                std::to_string(r.x) + ", " + std::to_string(r.y) + ")");
  }
  const float* yp = y.data_ptr<float>();
  OutputFile& rows = spool(id);
  for (std::size_t i = 0; i < s.waiting_records.size(); ++i) {
    const ChunkRecord& r = s.waiting_records[i];
    const std::int64_t xy[2] = {r.x, r.y};
    rows.write(xy, kCoordBytes);
    rows.write(yp + std::int64_t(i) * dim_, std::size_t(dim_) * sizeof(float));
    run_.delivered(r);
    s.level = r.level;
  }
  s.waiting.clear();
  s.waiting_records.clear();
}

void EmbedRun::finish_ready() {
  for (const PatientStats& p : dl_.core().view().patient_stats()) {
    SlideSpool& s = slides_.at(p.patient);
    if (!s.done && p.finished && std::uint64_t(s.arrived) == p.produced) finish(p.patient);
  }
}

void EmbedRun::finish(std::int64_t id) {
  SlideSpool& s = slides_.at(id);
  embed_waiting(id);  // its last, shorter batch
  const std::string path = spool(id).name();
  run_.close_output(s.name);
  FeatureFile f = read_spool(path, dim_);
  f.attributes = attributes_;
  f.attributes["level"] = s.level;
  f.attributes["patch_level"] = s.level;
  f.write(files_[s.index]);
  s.done = true;
  run_.keep_finished(id);
  commit();
  ++shown_.slides_done;
  tell(id, true);
  std::error_code ec;
  fs::remove(path, ec);
}

void EmbedRun::commit() {
  nlohmann::json per = nlohmann::json::object();
  for (const auto& [id, s] : slides_) per[s.name] = {{"done", s.done}, {"level", s.level}};
  run_.commit({{"slides", per}});
}

void EmbedRun::tell(std::int64_t id, bool finished) {
  if (!o_.on_progress()) return;
  const SlideSpool& s = slides_.at(id);
  shown_.current = path_of(s);
  shown_.finished = finished ? shown_.current : "";
  shown_.finished_windows = finished ? s.arrived : 0;
  shown_.finished_seconds = finished && s.arrived > 0
                                ? std::chrono::duration<double>(std::chrono::steady_clock::now() - s.first).count()
                                : 0;
  o_.on_progress()(shown_);
}

std::vector<EmbeddedSlide> EmbedRun::run() {
  for (;;) {
    Batch b = dl_.get_batch(o_.batch_size());
    if (b.empty()) break;
    take(b);
    finish_ready();  // finished producing, and all it produced has arrived here
    if (run_.due()) commit();
  }
  finish_ready();  // slides whose last windows came in the last batch, or that had none this run
  dl_.stop();
  commit();
  std::vector<EmbeddedSlide> out;
  for (auto& [id, s] : slides_) {
    if (s.done) {
      out.push_back({id, files_[s.index], FeatureFile::read(files_[s.index]).rows, s.earlier});
    } else if (!run_.resumable()) {
      run_.remove_output(s.name);  // without a state there is no resuming: no partial rows left behind
    }
  }
  return out;
}

}  // namespace pydmed::detail
