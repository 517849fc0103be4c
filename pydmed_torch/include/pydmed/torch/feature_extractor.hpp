#pragma once
// Whole-slide feature extraction: every tissue window of every slide (SlidingWindowDL, at a
// level or a physical resolution, within annotations if given) through a model, one
// embedding per window, written per slide as the multiple-instance-learning tools read it
// (FeatureFile: DIR/<slide name>.h5 with "features" [N, D] and "coords" [N, 2]). Resumable:
// with a state file, a run stopped at any point and started again skips finished slides and
// finishes the others without repeating or missing a window; the files equal an uninterrupted
// run's.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pydmed/arg.hpp"
#include "pydmed/data/dataset.hpp"
#include "pydmed/extensions/sliding_window.hpp"

namespace pydmed {

// Where a run is, for a progress display (FeatureExtractorOptions::on_progress): counts so far,
// and when `finished` names a slide, the one just written (its windows and seconds).
struct EmbedProgress {
  std::int64_t slides_done = 0, slides_total = 0;  // slides finished earlier count as done
  std::int64_t windows_done = 0;                   // received this run (embedded in batches)
  std::string current;                             // the slide of the last window embedded
  std::string finished;                            // "" or the slide just finished
  std::int64_t finished_windows = 0;
  double finished_seconds = 0;  // from its first window this run to its file
};

struct FeatureExtractorOptions {
  FeatureExtractorOptions() {}
  PYDMED_ARG(SlidingWindowOptions, windows) = SlidingWindowOptions().min_tissue(0.25);
  PYDMED_ARG(std::string, out_dir) = "features";
  // "" : not resumable. Else the run's state, saved every state_every seconds and at the end.
  PYDMED_ARG(std::string, state_file) = "";
  PYDMED_ARG(double, state_every) = 1.0;
  // Windows per model call. Each call holds one slide's consecutive windows, counted from its
  // first: a resumed run calls the model on exactly the batches an uninterrupted one would, so
  // its files are byte for byte the same.
  PYDMED_ARG(std::size_t, batch_size) = 64;
  PYDMED_ARG(int, collectors) = 2;
  PYDMED_ARG(torch::Device, device) = torch::Device(torch::kCPU);
  // The model sees float [B, 3, K, K] in [0, 1], normalised by these (ImageNet's by default).
  PYDMED_ARG(std::vector<double>, mean) = std::vector<double>({0.485, 0.456, 0.406});
  PYDMED_ARG(std::vector<double>, std) = std::vector<double>({0.229, 0.224, 0.225});
  // The largest feature dimension taken: a model returning more (a mistake: 50,000,000 floats a
  // window fill a disk in a minute) is refused before any slide is read.
  PYDMED_ARG(std::int64_t, max_dim) = 65536;
  // Names the model in messages ("model.pt: returned ...").
  PYDMED_ARG(std::string, model_name) = "the model";
  // Written into every file beside the run's own (mpp, kernel, stride, level, pydmed_version):
  // the model's SHA-256, say. A resumed run must have the same.
  PYDMED_ARG(nlohmann::json, attributes) = nlohmann::json::object();
  // Called on run()'s thread after each model call and when a slide's file is written.
  PYDMED_ARG(std::function<void(const EmbedProgress&)>, on_progress) = nullptr;
};

struct EmbeddedSlide {
  std::int64_t patient = 0;
  std::string file;          // DIR/<name>.h5
  std::int64_t windows = 0;  // rows in the file
  bool earlier = false;      // finished by an earlier run (resumed): left as it was
};

class FeatureExtractor {
 public:
  // float [B, 3, K, K] -> [B, D] on the options' device.
  using Model = std::function<torch::Tensor(const torch::Tensor&)>;

  // Checks the options, the output folder (made if missing; refused when it cannot be
  // written) and that two slides do not share a file name: Error naming what, before any slide
  // is read.
  FeatureExtractor(Dataset dataset, Model model, FeatureExtractorOptions options = {});
  ~FeatureExtractor();

  // Tries the model on one window of zeros, then embeds every slide. Returns the slides whose
  // files are complete. Error (naming the model) when the model fails or returns other than
  // [B, D]; slides that fail are in errors(), their windows served so far kept for a resume.
  std::vector<EmbeddedSlide> run();
  // From another thread (a signal's): the run ends soon, with its state saved.
  void stop();
  std::vector<PatientError> errors() const;
  // The name a slide's feature file takes (NAME.h5): a slide file's name without its suffix, a
  // DICOM series' folder's whole name (UIDs hold dots).
  static std::string slide_name(const std::string& slide_path);

 private:
  struct Impl;  // the locks and the stop hook (threads), and the run's parts
  std::unique_ptr<Impl> impl_;
};

}  // namespace pydmed
