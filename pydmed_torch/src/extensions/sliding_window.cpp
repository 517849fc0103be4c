#include "pydmed/extensions/sliding_window.hpp"

#include <algorithm>
#include <cmath>

#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"

namespace pydmed {

WindowAxis WindowAxis::of(std::int64_t length, int kernel, int stride) {
  WindowAxis a;
  if (length <= kernel) {  // one window, padded with background
    a.starts = {0};
    return a;
  }
  for (std::int64_t s = 0; s + kernel <= length; s += stride) a.starts.push_back(s);
  if (a.starts.back() + kernel < length) {
    const std::int64_t last = length - kernel;
    a.last_overlap = a.starts.back() + kernel - last;
    a.starts.push_back(last);
    a.extra_last = true;
  }
  return a;
}

WindowInfo WindowInfo::from_json(const std::string& s) {
  const auto j = nlohmann::json::parse(s);
  WindowInfo w;
  w.row = j.at("row"), w.col = j.at("col"), w.rows = j.at("rows"), w.cols = j.at("cols");
  w.last_row = j.at("last_row"), w.last_col = j.at("last_col");
  w.overlap_y = j.at("overlap_y"), w.overlap_x = j.at("overlap_x");
  return w;
}

namespace {

// How a level's window grid is cut into BigChunks: groups of rows x groups of columns, each
// group's pixels within max_bigchunk_bytes.
struct Plan {
  WindowAxis xs, ys;
  std::int64_t cols_per = 1, rows_per = 1, col_groups = 1, row_groups = 1;
  Plan(std::int64_t w, std::int64_t h, int kernel, int stride, std::size_t max_bytes)
      : xs(WindowAxis::of(w, kernel, stride)), ys(WindowAxis::of(h, kernel, stride)) {
    const auto ncols = std::int64_t(xs.starts.size()), nrows = std::int64_t(ys.starts.size());
    const auto max_w = std::int64_t(max_bytes / (3 * std::size_t(kernel)));
    cols_per = std::clamp<std::int64_t>((max_w - kernel) / stride + 1, 1, ncols);
    const std::int64_t span_w = std::max<std::int64_t>(kernel, xs.starts[std::size_t(cols_per - 1)] + kernel);
    const auto max_h = std::int64_t(max_bytes / (3 * std::size_t(span_w)));
    rows_per = std::clamp<std::int64_t>((max_h - kernel) / stride + 1, 1, nrows);
    col_groups = (ncols + cols_per - 1) / cols_per;
    row_groups = (nrows + rows_per - 1) / rows_per;
  }
  std::int64_t count() const { return col_groups * row_groups; }
};

int level_for(const SlidingWindowOptions& sw, const Patient& p, const Slide& s) {
  return sw.level_of() ? sw.level_of()(p, s) : sw.level();
}

std::int64_t start_bigchunk(const nlohmann::json& checkpoint) {
  return checkpoint.is_object() ? checkpoint.value("bigchunk", std::int64_t(0)) : 0;
}

class SlidingWindowLoader : public BigChunkLoader {
 public:
  explicit SlidingWindowLoader(SlidingWindowOptions sw) : sw_(std::move(sw)) {}
  std::optional<BigChunk> extract_bigchunk(const nlohmann::json&) override {
    if (!slide_) slide_ = std::make_unique<Slide>(open_record_slide(patient().record(sw_.record())));  // once a visit
    const int level = level_for(sw_, patient(), *slide_);
    const LevelInfo& L = slide_->level(level);
    const int k = sw_.kernel();
    const Plan plan(L.width, L.height, k, sw_.stride(), options().max_bigchunk_bytes());
    const std::int64_t b = start_bigchunk(get_checkpoint()) + bigchunk_number();
    if (b >= plan.count()) return std::nullopt;  // every window served: the patient is finished
    const std::int64_t rg = b / plan.col_groups, cg = b % plan.col_groups;
    const std::int64_t c0 = cg * plan.cols_per, c1 = std::min<std::int64_t>(c0 + plan.cols_per, std::int64_t(plan.xs.starts.size()));
    const std::int64_t r0 = rg * plan.rows_per, r1 = std::min<std::int64_t>(r0 + plan.rows_per, std::int64_t(plan.ys.starts.size()));
    const std::int64_t x0 = plan.xs.starts[std::size_t(c0)], y0 = plan.ys.starts[std::size_t(r0)];
    const int w = int(plan.xs.starts[std::size_t(c1 - 1)] + k - x0), h = int(plan.ys.starts[std::size_t(r1 - 1)] + k - y0);
    BigChunk bc;
    bc.region = {std::llround(double(x0) * L.downsample), std::llround(double(y0) * L.downsample), level, w, h, L.downsample};
    bc.data = allocate(h, w, 3);
    // A damaged tile costs the windows over it (reported), not the band.
    bc.damaged = slide_->read_region_salvage(bc.data.data, bc.region.x, bc.region.y, level, w, h);
    bc.info = {{"index", b}, {"of", plan.count()}, {"c0", c0}, {"c1", c1}, {"r0", r0}, {"r1", r1},
               {"level_width", L.width}, {"level_height", L.height}};
    return bc;
  }

 private:
  SlidingWindowOptions sw_;
  std::unique_ptr<Slide> slide_;
};

class SlidingWindowCollector : public SmallChunkCollector {
 public:
  explicit SlidingWindowCollector(SlidingWindowOptions sw) : sw_(std::move(sw)) {}
  Extraction extract_smallchunk(std::uint64_t call, const BigChunk& bc, const nlohmann::json&) override {
    if (call == 0) {  // a new BigChunk: its block of the grid, and where this visit resumes in it
      const auto& in = bc.info;
      b_ = in["index"], of_ = in["of"], c0_ = in["c0"], c1_ = in["c1"], r0_ = in["r0"], r1_ = in["r1"];
      xs_ = WindowAxis::of(in["level_width"], sw_.kernel(), sw_.stride());
      ys_ = WindowAxis::of(in["level_height"], sw_.kernel(), sw_.stride());
      first_ = bc.number == 0 && get_checkpoint().is_object() && start_bigchunk(get_checkpoint()) == b_
                   ? get_checkpoint().value("window", std::int64_t(0))
                   : 0;
    }
    const std::int64_t b = b_, c0 = c0_, r0 = r0_;
    const std::int64_t cols = c1_ - c0, count = cols * (r1_ - r0);
    const std::int64_t idx = first_ + std::int64_t(call);
    // The checkpoint takes effect once this window is in the ring: resume after it.
    if (idx >= count) {
      set_checkpoint({{"bigchunk", b + 1}, {"window", 0}});
      set_status({{"state", b + 1 >= of_ ? "finished" : "busy"}, {"bigchunk", b + 1}, {"of", of_}});
      return Extraction::done();
    }
    set_checkpoint({{"bigchunk", b}, {"window", idx + 1}});
    if (call == 0) set_status({{"state", "busy"}, {"bigchunk", b}, {"of", of_}});
    const std::int64_t row = r0 + idx / cols, col = c0 + idx % cols;
    const std::int64_t lx = xs_.starts[std::size_t(col)], ly = ys_.starts[std::size_t(row)];
    const double ds = bc.region.downsample;
    const std::int64_t bx = std::llround(double(bc.region.x) / ds), by = std::llround(double(bc.region.y) / ds);
    const cv::Rect in_bigchunk(int(lx - bx), int(ly - by), sw_.kernel(), sw_.kernel());
    std::string why;
    if (touches_damage(bc, in_bigchunk.x, in_bigchunk.y, in_bigchunk.width, in_bigchunk.height, &why)) {
      return Extraction::skip({std::llround(double(lx) * ds), std::llround(double(ly) * ds), bc.region.level, sw_.kernel(),
                               sw_.kernel(), "window over a damaged tile: " + why});
    }
    SmallChunk c;
    c.data = bc.data(in_bigchunk);
    c.x = std::llround(double(lx) * ds);
    c.y = std::llround(double(ly) * ds);
    c.level = bc.region.level;
    const bool last_row = ys_.extra_last && row + 1 == std::int64_t(ys_.starts.size());
    const bool last_col = xs_.extra_last && col + 1 == std::int64_t(xs_.starts.size());
    c.info = {{"row", row}, {"col", col}, {"rows", ys_.starts.size()}, {"cols", xs_.starts.size()},
              {"last_row", last_row}, {"last_col", last_col},
              {"overlap_y", last_row ? ys_.last_overlap : 0}, {"overlap_x", last_col ? xs_.last_overlap : 0}};
    return c;
  }

 private:
  SlidingWindowOptions sw_;
  std::int64_t b_ = 0, of_ = 0, c0_ = 0, c1_ = 0, r0_ = 0, r1_ = 0, first_ = 0;
  WindowAxis xs_, ys_;
};

class SlidingWindowScheduler : public Scheduler {
 public:
  std::vector<std::int64_t> initial_schedule(const LightDLCore& dl, Rng&) override {
    auto ids = dl.waiting_patients();  // in id order
    ids.resize(std::min<std::size_t>(ids.size(), std::size_t(dl.options().num_bigchunkloaders())));
    return ids;
  }
  SchedDecision schedule(const LightDLCore&, Rng&) override { return SchedDecision::keep(); }
  std::optional<std::int64_t> replacement(const LightDLCore& dl, Rng&) override {
    // Next in id order, favouring those never loaded (a failed one is retried after them).
    auto ids = dl.waiting_patients();
    for (auto id : ids)
      if (dl.schedcount(id) == 0) return id;
    if (ids.empty()) return std::nullopt;
    return ids.front();
  }
};

}  // namespace

Options sliding_window_options(const SlidingWindowOptions& sw, Options base) {
  if (sw.kernel() <= 0 || sw.stride() <= 0) throw OptionsError("sliding window", "kernel and stride must be positive");
  const std::size_t min_bytes = std::size_t(sw.kernel()) * std::size_t(sw.kernel()) * 3;
  if (base.max_bigchunk_bytes() < min_bytes) base.max_bigchunk_bytes(min_bytes);
  return base.patch_shape({sw.kernel(), sw.kernel(), 3}).interval_resched(1e9);
}

LoaderFactory sliding_window_loader(const SlidingWindowOptions& sw) {
  return [sw] { return std::make_unique<SlidingWindowLoader>(sw); };
}
CollectorFactory sliding_window_collector(const SlidingWindowOptions& sw) {
  return [sw] { return std::make_unique<SlidingWindowCollector>(sw); };
}
std::shared_ptr<Scheduler> sliding_window_scheduler() { return std::make_shared<SlidingWindowScheduler>(); }

std::unique_ptr<LightDLCore> make_sliding_window(Dataset dataset, const SlidingWindowOptions& sw, Options base) {
  return std::make_unique<LightDLCore>(std::move(dataset), sliding_window_loader(sw), sliding_window_collector(sw),
                                       sliding_window_options(sw, std::move(base)), sliding_window_scheduler());
}

}  // namespace pydmed
