#include "pydmed/torch/feature_extractor.hpp"

#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>

#include "pydmed/error.hpp"
#include "pydmed/extensions/resumable_run.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/slide/remote.hpp"
#include "torch/embed_run.hpp"
#include "torch/model_call.hpp"

namespace fs = std::filesystem;

namespace pydmed {

struct FeatureExtractor::Impl {
  Dataset dataset;
  Model model;
  FeatureExtractorOptions o;
  std::vector<std::string> files;  // per patient, in dataset order
  RunLock folder_lock, state_lock;  // one run per output folder and per state, for the extractor's life
  std::mutex stop_mu;  // guards stop and running: run() sets the latter, stop() may come from any thread
  bool stop = false;
  detail::EmbedRun* running = nullptr;
  std::vector<PatientError> errors;
};

namespace {
void check(const FeatureExtractorOptions& o) {
  if (o.batch_size() == 0) throw OptionsError("batch_size", "must be positive");
  if (o.mean().size() != 3 || o.std().size() != 3) throw OptionsError("mean/std", "need 3 values each (R, G, B)");
  for (double m : o.mean())
    if (!std::isfinite(m)) throw OptionsError("mean", "must be finite numbers");
  for (double s : o.std())  // a zero divides every pixel by zero: NaN and Inf features
    if (!(std::isfinite(s) && s > 0)) throw OptionsError("std", "must be finite numbers > 0");
  if (o.max_dim() < 1) throw OptionsError("max_dim", "must be at least 1");
  sliding_window_options(o.windows());  // refuses bad window options now
}
}  // namespace

FeatureExtractor::FeatureExtractor(Dataset dataset, Model model, FeatureExtractorOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.dataset = std::move(dataset), d.model = std::move(model), d.o = std::move(options);
  if (!d.model) throw Error("FeatureExtractor needs a model");
  check(d.o);
  make_output_folder(d.o.out_dir());
  d.folder_lock = RunLock::folder(d.o.out_dir());
  // The state's folder is checked now (its lock is made there), not after the first slide.
  if (!d.o.state_file().empty()) d.state_lock = RunStateFile::lock(d.o.state_file());
  std::map<std::string, std::int64_t> names;
  for (const Patient& p : d.dataset.list_patients) {
    const std::string stem = slide_name(p.record(d.o.windows().record()).path());
    if (auto [it, fresh] = names.emplace(stem, p.int_uniqueid); !fresh) {
      throw Error("patients " + std::to_string(it->second) + " and " + std::to_string(p.int_uniqueid) +
                  " both have a slide named " + stem + ": their feature files would be the same");
    }
    d.files.push_back((fs::path(d.o.out_dir()) / (stem + ".h5")).string());
  }
}

FeatureExtractor::~FeatureExtractor() = default;

void FeatureExtractor::stop() {
  std::lock_guard<std::mutex> g(impl_->stop_mu);
  impl_->stop = true;
  if (impl_->running) impl_->running->loader().stop();
}

std::vector<PatientError> FeatureExtractor::errors() const { return impl_->errors; }

std::vector<EmbeddedSlide> FeatureExtractor::run() {
  Impl& d = *impl_;
  torch::NoGradGuard no_grad;
  // The model first: a wrong model is one line before any slide is read.
  const std::int64_t dim =
      detail::probe_model(d.model, d.o.windows().kernel(), d.o.device(), d.o.model_name(), d.o.max_dim());
  detail::EmbedRun run(d.dataset, d.model, d.o, d.files, d.state_lock, dim);
  // stop() reaches this run's loader while it lives, however run() leaves.
  struct StopHook {
    Impl& d;
    ~StopHook() {
      std::lock_guard<std::mutex> g(d.stop_mu);
      d.running = nullptr;
    }
  } hook{d};
  {
    std::lock_guard<std::mutex> g(d.stop_mu);
    d.running = &run;
    if (d.stop) run.loader().stop();
  }
  std::vector<EmbeddedSlide> out = run.run();
  d.errors = run.loader().core().errors();
  return out;
}

std::string FeatureExtractor::slide_name(const std::string& slide_path) {
  if (is_url(slide_path)) {  // its file name; an s3 folder (a DICOM series): the folder's
    std::string url = redact_url(slide_path);
    const bool folder = !url.empty() && url.back() == '/';
    while (!url.empty() && url.back() == '/') url.pop_back();
    const std::string name = url_file_name(url);
    return folder ? name : fs::path(name).stem().string();
  }
  const fs::path slide(slide_path);
  std::error_code ec;
  return (fs::is_directory(slide, ec) ? slide.filename() : slide.stem()).string();
}

}  // namespace pydmed
