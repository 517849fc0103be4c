#pragma once
// SlidingWindowDL's engine side: whole-slide inference. Each patient's slide is tiled at a
// level with a kernel and a stride; every window is delivered exactly once, the last row and
// column included where the stride does not divide the size (flagged, with their overlap).
// BigChunks are blocks of whole window rows (bands, split across when a band is too wide);
// the next block to serve lives in the patient's checkpoint, so swaps never repeat or skip a
// window; the loader ends by itself when every patient is finished.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pydmed/engine/light_dl_core.hpp"
#include "pydmed/extensions/window_progress.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

// Window positions along one axis of `length` pixels.
struct WindowAxis {
  std::vector<std::int64_t> starts;  // in pixels of the level
  bool extra_last = false;           // the last start was added because the stride does not divide
  std::int64_t last_overlap = 0;     // pixels the extra last window shares with the one before
  static WindowAxis of(std::int64_t length, int kernel, int stride);
};

struct SlidingWindowOptions {
  SlidingWindowOptions() {}
  PYDMED_ARG(std::string, record) = "wsi";
  PYDMED_ARG(int, level) = 0;
  // Per patient, overrides `level` (e.g. the level closest to 10x from the slide's mpp).
  PYDMED_ARG(std::function<int(const Patient&, const Slide&)>, level_of) = nullptr;
  PYDMED_ARG(int, kernel) = 224;
  PYDMED_ARG(int, stride) = 224;
  // > 0: tile at this many microns per pixel (Slide::physical_region picks the level; `level`
  // and `level_of` are ignored): kernel and stride are pixels at this mpp, and each window is
  // its region of the level resized to kernel x kernel (INTER_AREA).
  PYDMED_ARG(double, mpp) = 0.0;
  PYDMED_ARG(bool, upsample) = false;  // with mpp finer than a slide: INTER_LINEAR, not an error
  // For a record with annotations (record_annotations): only the windows whose centre lies
  // inside a polygon (Include; the window's info "roi" is its class) or outside (Exclude);
  // min_roi_fraction > 0 asks for that fraction of the window's area instead of its centre.
  PYDMED_ARG(RoiMode, roi) = RoiMode::Include;
  PYDMED_ARG(double, min_roi_fraction) = 0.0;
  // > 0: only windows with at least this fraction of tissue (min_tissue_mask_options(), as the
  // random loader's min_tissue reads); the others are left out silently, like those outside
  // annotations.
  PYDMED_ARG(double, min_tissue) = 0.0;
};

// A window's info (SmallChunk::info / ChunkRecord::info_json): {"row", "col", "last_row",
// "last_col", "overlap_y", "overlap_x", "rows", "cols", "bigchunk", "window"}, overlaps in
// pixels of the level, "bigchunk"/"window" its place in the slide's plan (WindowProgress), and
// "roi" (the annotation class) inside annotations.
struct WindowInfo {
  std::int64_t row = 0, col = 0, rows = 0, cols = 0;
  bool last_row = false, last_col = false;
  std::int64_t overlap_y = 0, overlap_x = 0;
  WindowPosition position;
  nlohmann::json to_json() const;  // without "roi", which the collector adds inside annotations
  static std::optional<WindowInfo> parse(const std::string& info_json);  // none: not a window's
  static WindowInfo from_json(const std::string& info_json);             // Error: not a window's
};

// Options for a sliding-window run: patch shape kernel x kernel x 3, BigChunks sized from
// `base.max_bigchunk_bytes()`. Swaps are the scheduler's: sliding_window_scheduler() makes
// none (patients run to the end); another scheduler swaps mid-slide, and the windows still
// arrive once each (the collector resumes at its checkpoint).
Options sliding_window_options(const SlidingWindowOptions& sw, Options base = {});
LoaderFactory sliding_window_loader(const SlidingWindowOptions& sw);
CollectorFactory sliding_window_collector(const SlidingWindowOptions& sw);
// Loads patients in order and replaces each as it finishes; never swaps on the timer.
std::shared_ptr<Scheduler> sliding_window_scheduler();

// The whole thing, torch-free: what `pydmed sliding-window` runs.
std::unique_ptr<LightDLCore> make_sliding_window(Dataset dataset, const SlidingWindowOptions& sw, Options base = {});

}  // namespace pydmed
