#include "pydmed/torch/feature_extractor.hpp"

#include <sys/statvfs.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/extensions/feature_file.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/resumable_output.hpp"
#include "pydmed/torch/extension_dls.hpp"

#ifndef PYDMED_VERSION
#define PYDMED_VERSION "unknown"
#endif

namespace fs = std::filesystem;

namespace pydmed {

namespace {

constexpr const char* kStateFormat = "pydmed-embed-state";

// The reason in an exception from a model, on one line: c10::Error's without its backtrace, and
// of a TorchScript interpreter's report its last "...Error: reason" line, not its preamble.
std::string reason(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  const std::string what = c10 ? c10->what_without_backtrace() : e.what();
  std::string last, line;
  std::istringstream in(what);
  while (std::getline(in, line))
    if (line.find("Error: ") != std::string::npos) last = line.substr(line.find("Error: ") + 7);
  return last.empty() ? what.substr(0, what.find('\n')) : last;
}

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// The model on a batch, its output on the host as float; its failures (a CUDA one included,
// which shows at the copy) as one line naming it.
torch::Tensor embed(const FeatureExtractor::Model& model, const torch::Tensor& x, const std::string& name,
                    std::int64_t dim) {
  torch::Tensor y;
  try {
    y = model(x);
    if (y.defined()) y = y.to(torch::kCPU, torch::kFloat).contiguous();
  } catch (const std::exception& e) {
    throw Error(name + ": fails on a float " + shape_of(x) + " batch (expected input [B, 3, K, K]): " + reason(e));
  }
  if (!y.defined() || y.dim() != 2 || y.size(0) != x.size(0) || (dim > 0 && y.size(1) != dim)) {
    throw Error(name + ": returned " + (y.defined() ? shape_of(y) : std::string("nothing")) + " for a batch of " +
                std::to_string(x.size(0)) + " windows; expected [" + std::to_string(x.size(0)) + ", " +
                (dim > 0 ? std::to_string(dim) : std::string("D")) + "]");
  }
  return y;
}

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

// One slide's rows as they arrive: x, y (int64) and D floats each, appended to DIR/<name>.h5.rows.
constexpr std::size_t kCoordBytes = 2 * sizeof(std::int64_t);

}  // namespace

FeatureExtractor::FeatureExtractor(Dataset dataset, Model model, FeatureExtractorOptions options)
    : dataset_(std::move(dataset)), model_(std::move(model)), o_(std::move(options)) {
  if (!model_) throw Error("FeatureExtractor needs a model");
  if (o_.batch_size() == 0) throw OptionsError("batch_size", "must be positive");
  if (o_.mean().size() != 3 || o_.std().size() != 3) throw OptionsError("mean/std", "need 3 values each (R, G, B)");
  for (double m : o_.mean())
    if (!std::isfinite(m)) throw OptionsError("mean", "must be finite numbers");
  for (double s : o_.std())  // a zero divides every pixel by zero: NaN and Inf features
    if (!(std::isfinite(s) && s > 0)) throw OptionsError("std", "must be finite numbers > 0");
  if (o_.max_dim() < 1) throw OptionsError("max_dim", "must be at least 1");
  sliding_window_options(o_.windows());  // refuses bad window options now
  make_output_folder(o_.out_dir());
  folder_lock_ = RunLock::folder(o_.out_dir());
  // The state's folder is checked now (its lock is made there), not after the first slide.
  if (!o_.state_file().empty()) state_lock_ = RunStateFile::lock(o_.state_file());
  std::map<std::string, std::int64_t> names;
  for (const Patient& p : dataset_.list_patients) {
    const std::string stem = fs::path(p.record(o_.windows().record()).path()).stem().string();
    if (auto [it, fresh] = names.emplace(stem, p.int_uniqueid); !fresh) {
      throw Error("patients " + std::to_string(it->second) + " and " + std::to_string(p.int_uniqueid) +
                  " both have a slide named " + stem + ": their feature files would be the same");
    }
    files_.push_back((fs::path(o_.out_dir()) / (stem + ".h5")).string());
  }
}

void FeatureExtractor::stop() {
  std::lock_guard<std::mutex> g(stop_mu_);
  stop_ = true;
  if (stop_loader_) stop_loader_();
}

std::vector<EmbeddedSlide> FeatureExtractor::run() {
  torch::NoGradGuard no_grad;
  const SlidingWindowOptions& sw = o_.windows();
  const int k = sw.kernel();
  // The model first: a wrong model is one line before any slide is read.
  const std::int64_t dim =
      embed(model_, torch::zeros({1, 3, k, k}, torch::TensorOptions().device(o_.device())), o_.model_name(), 0).size(1);
  if (dim == 0) throw Error(o_.model_name() + ": returns 0 features a window");
  if (dim > o_.max_dim()) {
    throw Error(o_.model_name() + ": returns " + std::to_string(dim) + " features a window, more than the " +
                std::to_string(o_.max_dim()) + " taken (raise max_dim, --max-dim, if that is meant)");
  }

  nlohmann::json attributes = o_.attributes();
  attributes.update({{"mpp", sw.mpp()},
                     {"kernel", k},
                     {"stride", sw.stride()},
                     {"patch_size", k},
                     {"min_tissue", sw.min_tissue()},
                     {"pydmed_version", PYDMED_VERSION}});
  const nlohmann::json run = {{"attributes", attributes},
                              {"slides", dataset_.records_by_id()},
                              {"slide_files", dataset_.slide_stamps()},
                              {"upsample", sw.upsample()},
                              {"level", sw.level()},
                              {"roi", int(sw.roi())},
                              {"min_roi_fraction", sw.min_roi_fraction()},
                              {"mean", o_.mean()},
                              {"std", o_.std()},
                              {"dim", dim}};

  // Where an earlier run stopped.
  const nlohmann::json saved =
      o_.state_file().empty() ? nlohmann::json() : RunStateFile::load(o_.state_file(), kStateFormat, run);
  const std::size_t row_bytes = kCoordBytes + std::size_t(dim) * sizeof(float);
  struct SlideState {
    std::size_t index = 0;
    std::unique_ptr<OutputFile> rows;
    std::uint64_t kept = 0;                       // bytes committed by earlier runs
    std::int64_t arrived = 0;                     // windows that reached this loop this run
    std::chrono::steady_clock::time_point first;  // when its first window this run arrived
    // Windows waiting for their slide's batch: the model sees each slide's windows in batches
    // of batch_size from the slide's first window, whatever the loader mixed and wherever a run
    // stopped, so a resumed run computes every row exactly as an uninterrupted one.
    std::vector<torch::Tensor> waiting;
    std::vector<ChunkRecord> waiting_records;
    int level = -1;
    bool done = false, earlier = false, redo = false;
  };
  std::map<std::int64_t, SlideState> slides;
  for (std::size_t i = 0; i < dataset_.list_patients.size(); ++i) {
    const std::int64_t id = dataset_.list_patients[i].int_uniqueid;
    SlideState& s = slides[id];
    s.index = i;
    const nlohmann::json mine =
        saved.is_object() ? saved.value("slides", nlohmann::json::object()).value(std::to_string(id), nlohmann::json())
                          : nlohmann::json();
    if (!mine.is_object()) continue;
    if (mine.value("done", false)) {
      // Finished earlier; if its file has gone since, it is made again from the start.
      s.done = s.earlier = fs::exists(files_[i]);
      s.redo = !s.done;
      continue;
    }
    s.kept = mine.value("bytes", std::uint64_t(0));
    s.level = mine.value("level", -1);
    if (s.kept > 0) s.rows = std::make_unique<OutputFile>(files_[i] + ".rows", s.kept);
  }
  // The loader goes on from the saved positions; finished slides are never loaded again.
  nlohmann::json restore = saved.is_object() ? saved.at("loader") : nlohmann::json();
  if (restore.is_object()) {
    for (auto& [id, p] : restore["loader"]["patients"].items()) {
      const auto it = slides.find(std::stoll(id));
      if (it == slides.end()) continue;
      if (it->second.done) p["finished"] = true;
      if (it->second.redo) p["checkpoint"] = nullptr, p["finished"] = false, p["status"] = nullptr;
    }
  }
  auto rows_of = [&](std::int64_t id) -> OutputFile& {
    SlideState& s = slides.at(id);
    if (!s.rows) {
      // A slide whose rows cannot fit is refused before its spool fills the disk.
      const Record& record = dataset_.list_patients[s.index].record(sw.record());
      const std::uint64_t need = window_bound(record, sw) * row_bytes, free = free_bytes(o_.out_dir());
      if (need > free) {
        throw Error(record.path() + ": its features may need " + std::to_string(need >> 20) + " MiB (" +
                    std::to_string(dim) + " floats a window), more than the " + std::to_string(free >> 20) +
                    " MiB free in " + o_.out_dir());
      }
      s.rows = std::make_unique<OutputFile>(files_[s.index] + ".rows");
    }
    return *s.rows;
  };

  LightDL dl = SlidingWindowDL(dataset_, sw,
                               Options()
                                   .num_bigchunkloaders(o_.collectors())
                                   .batch_size(o_.batch_size())
                                   .maxlength_queue_smallchunk(std::max<std::size_t>(64, o_.batch_size())),
                               // uint8 as gathered: windows wait for their slide's batch at a quarter of the
                               // bytes, and are made float there.
                               TorchOptions().device(o_.device()));
  const auto channel = [&](const std::vector<double>& v) {
    return torch::tensor(std::vector<float>(v.begin(), v.end())).view({1, 3, 1, 1}).to(o_.device());
  };
  const torch::Tensor mean = channel(o_.mean()), std = channel(o_.std());
  WindowProgress progress(restore);
  auto loader_state = [&] {
    nlohmann::json s = progress.resume_state(dl.core());
    for (auto& [id, p] : s["loader"]["patients"].items())
      if (slides.at(std::stoll(id)).done) p["finished"] = true;  // never loaded again
    return s;
  };
  if (restore.is_object()) dl.restore(restore);

  auto last_commit = std::chrono::steady_clock::now();
  auto commit = [&] {
    if (o_.state_file().empty()) return;
    nlohmann::json per = nlohmann::json::object();
    for (auto& [id, s] : slides) {
      if (s.rows) s.rows->sync();  // first the rows, then the state that claims them
      per[std::to_string(id)] = {{"bytes", s.rows ? s.rows->size() : s.kept}, {"done", s.done}, {"level", s.level}};
    }
    RunStateFile::save(o_.state_file(), kStateFormat, run, {{"loader", loader_state()}, {"slides", per}});
    last_commit = std::chrono::steady_clock::now();
  };
  // A slide's waiting windows through the model, into its rows (and only then into the
  // positions a state saves).
  auto embed_waiting = [&](std::int64_t id) {
    SlideState& s = slides.at(id);
    if (s.waiting.empty()) return;
    const torch::Tensor x =
        ((torch::cat(s.waiting).to(torch::kFloat) / 255 - mean) / std).contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor y = embed(model_, x, o_.model_name(), dim);
    // NaN or Inf features poison every model trained on the file: refused, naming the window.
    const torch::Tensor bad = torch::logical_not(torch::isfinite(y)).any(1);
    if (bad.any().item<bool>()) {
      const std::int64_t i = bad.nonzero()[0][0].item<std::int64_t>();
      const ChunkRecord& r = s.waiting_records[std::size_t(i)];
      throw Error(o_.model_name() + ": returned NaN or infinite features for " +
                  dataset_.list_patients[s.index].record(sw.record()).path() + ", window at (" + std::to_string(r.x) +
                  ", " + std::to_string(r.y) + ")");
    }
    const float* yp = y.data_ptr<float>();
    OutputFile& rows = rows_of(id);
    for (std::size_t i = 0; i < s.waiting_records.size(); ++i) {
      const ChunkRecord& r = s.waiting_records[i];
      const std::int64_t xy[2] = {r.x, r.y};
      rows.write(xy, kCoordBytes);
      rows.write(yp + std::int64_t(i) * dim, std::size_t(dim) * sizeof(float));
      progress.delivered(r);
      s.level = r.level;
    }
    s.waiting.clear();
    s.waiting_records.clear();
  };
  EmbedProgress shown;
  shown.slides_total = std::int64_t(slides.size());
  for (const auto& [id, s] : slides) shown.slides_done += s.done;
  auto tell = [&](std::int64_t id, bool finished) {
    if (!o_.on_progress()) return;
    const SlideState& s = slides.at(id);
    const std::string path = dataset_.list_patients[s.index].record(sw.record()).path();
    shown.current = path;
    shown.finished = finished ? path : "";
    shown.finished_windows = finished ? s.arrived : 0;
    shown.finished_seconds = finished && s.arrived > 0
                                 ? std::chrono::duration<double>(std::chrono::steady_clock::now() - s.first).count()
                                 : 0;
    o_.on_progress()(shown);
  };
  // A slide whose windows have all arrived: its rows become DIR/<name>.h5.
  auto finish = [&](std::int64_t id) {
    SlideState& s = slides.at(id);
    embed_waiting(id);  // its last, shorter batch
    OutputFile& rows = rows_of(id);
    rows.close();
    const std::string spool = files_[s.index] + ".rows";
    std::ifstream in(spool, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() % row_bytes != 0) throw Error(spool + ": not whole rows of " + std::to_string(dim) + " features");
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
    f.attributes = attributes;
    f.attributes["level"] = s.level;
    f.attributes["patch_level"] = s.level;
    f.write(files_[s.index]);
    s.done = true;
    s.rows.reset();
    commit();
    ++shown.slides_done;
    tell(id, true);
    std::error_code ec;
    fs::remove(spool, ec);
  };

  // stop() reaches this loader while it lives, however run() leaves.
  struct StopHook {
    FeatureExtractor& fx;
    ~StopHook() {
      std::lock_guard<std::mutex> g(fx.stop_mu_);
      fx.stop_loader_ = nullptr;
    }
  } hook{*this};
  {
    std::lock_guard<std::mutex> g(stop_mu_);
    stop_loader_ = [&dl] { dl.stop(); };
    if (stop_) dl.stop();
  }
  for (;;) {
    Batch b = dl.get_batch(o_.batch_size());
    if (b.empty()) break;
    for (std::size_t i = 0; i < b.size(); ++i) {
      const ChunkRecord& r = b.records[i];
      SlideState& s = slides.at(r.patient);
      s.waiting.push_back(b.data.narrow(0, std::int64_t(i), 1).clone());
      s.waiting_records.push_back(r);
      if (s.arrived++ == 0) s.first = std::chrono::steady_clock::now();
      ++shown.windows_done;
      if (s.waiting.size() == o_.batch_size()) embed_waiting(r.patient);
    }
    if (!b.empty()) tell(b.records.back().patient, false);
    // Finished producing, and all it produced has arrived here.
    for (const PatientStats& p : dl.core().view().patient_stats()) {
      SlideState& s = slides.at(p.patient);
      if (!s.done && p.finished && std::uint64_t(s.arrived) == p.produced) finish(p.patient);
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last_commit).count() >= o_.state_every())
      commit();
  }
  // Slides whose last windows came in the last batch, or that had none this run.
  for (const PatientStats& p : dl.core().view().patient_stats()) {
    SlideState& s = slides.at(p.patient);
    if (!s.done && p.finished && std::uint64_t(s.arrived) == p.produced) finish(p.patient);
  }
  dl.stop();
  commit();
  errors_ = dl.core().errors();
  std::vector<EmbeddedSlide> out;
  for (auto& [id, s] : slides) {
    if (!s.done) {
      // Without a state there is no resuming: leave no partial rows behind.
      if (o_.state_file().empty()) {
        s.rows.reset();
        std::error_code ec;
        fs::remove(files_[s.index] + ".rows", ec);
      }
      continue;
    }
    out.push_back({id, files_[s.index], 0, s.earlier});
  }
  for (auto& e : out) {
    e.windows = FeatureFile::read(e.file).rows;
  }
  return out;
}

}  // namespace pydmed
