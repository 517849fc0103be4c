#include "pydmed/extensions/sliding_window.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/physical.hpp"
#include "pydmed/slide/tissue_mask.hpp"

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

nlohmann::json WindowInfo::to_json() const {
  return {{"row", row},
          {"col", col},
          {"bigchunk", position.bigchunk},
          {"window", position.window},
          {"rows", rows},
          {"cols", cols},
          {"last_row", last_row},
          {"last_col", last_col},
          {"overlap_y", overlap_y},
          {"overlap_x", overlap_x}};
}

std::optional<WindowInfo> WindowInfo::parse(const std::string& info_json) {
  const auto j = nlohmann::json::parse(info_json, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    WindowInfo w;
    w.row = j.at("row"), w.col = j.at("col"), w.rows = j.at("rows"), w.cols = j.at("cols");
    w.last_row = j.at("last_row"), w.last_col = j.at("last_col");
    w.overlap_y = j.at("overlap_y"), w.overlap_x = j.at("overlap_x");
    w.position = {j.at("bigchunk"), j.at("window")};
    return w;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

WindowInfo WindowInfo::from_json(const std::string& info_json) {
  if (auto w = parse(info_json)) return *w;
  throw Error("not a sliding window's info: " + info_json.substr(0, 200));
}

namespace {

// Where a slide's windows lie. The grid is laid in target pixels (the level's, or pixels at
// SlidingWindowOptions::mpp), which give the flags and overlaps; `lx`/`ly` are the windows'
// starts in pixels of the level read, and each window takes kw x kh of them.
struct Grid {
  WindowAxis xs, ys;
  std::vector<std::int64_t> lx, ly;
  std::int64_t kw = 0, kh = 0;
  // `scale`: level pixels per target pixel (1 without an mpp).
  Grid(std::int64_t level_w, std::int64_t level_h, int kernel, int stride, double scale_x, double scale_y,
       std::int64_t kw_, std::int64_t kh_)
      : xs(WindowAxis::of(std::int64_t(double(level_w) / scale_x), kernel, stride)),
        ys(WindowAxis::of(std::int64_t(double(level_h) / scale_y), kernel, stride)),
        kw(kw_),
        kh(kh_) {
    auto to_level = [](const WindowAxis& a, double scale, std::int64_t length, std::int64_t region) {
      std::vector<std::int64_t> out;
      for (auto s : a.starts)
        out.push_back(
            std::clamp<std::int64_t>(std::llround(double(s) * scale), 0, std::max<std::int64_t>(0, length - region)));
      return out;
    };
    lx = to_level(xs, scale_x, level_w, kw);
    ly = to_level(ys, scale_y, level_h, kh);
  }
};

// What the loader tells its collector of a BigChunk (BigChunk::info, serialised here only): the
// slide's grid, laid the same way on both sides, and which block of it this BigChunk holds.
struct WindowBlock {
  std::int64_t level_width = 0, level_height = 0;
  double mpp = 0, scale_x = 1, scale_y = 1;  // scale: level pixels per target pixel
  std::int64_t kw = 0, kh = 0;               // a window's region of the level
  bool upsample = false;
  std::int64_t index = 0, of = 0;            // the BigChunk's number in the plan, of how many
  std::int64_t c0 = 0, c1 = 0, r0 = 0, r1 = 0;  // its columns and rows of windows, [c0, c1) x [r0, r1)

  nlohmann::json to_json() const {
    return {{"level_width", level_width}, {"level_height", level_height}, {"mpp", mpp}, {"scale_x", scale_x},
            {"scale_y", scale_y}, {"kw", kw}, {"kh", kh}, {"upsample", upsample}, {"index", index}, {"of", of},
            {"c0", c0}, {"c1", c1}, {"r0", r0}, {"r1", r1}};
  }
  static WindowBlock from_json(const nlohmann::json& j) {
    WindowBlock b;
    b.level_width = j.at("level_width"), b.level_height = j.at("level_height");
    b.mpp = j.at("mpp"), b.scale_x = j.at("scale_x"), b.scale_y = j.at("scale_y");
    b.kw = j.at("kw"), b.kh = j.at("kh"), b.upsample = j.at("upsample");
    b.index = j.at("index"), b.of = j.at("of");
    b.c0 = j.at("c0"), b.c1 = j.at("c1"), b.r0 = j.at("r0"), b.r1 = j.at("r1");
    return b;
  }
  Grid grid(const SlidingWindowOptions& sw) const {
    return Grid(level_width, level_height, sw.kernel(), sw.stride(), scale_x, scale_y, kw, kh);
  }
};

// How the grid is cut into BigChunks: groups of rows x groups of columns, each group's pixels
// within max_bigchunk_bytes (with 2 pixels to spare where starts were rounded to the level).
// Where the reader's tiles are known, a group ends where the next one starts on a tile edge when
// that keeps at least half the windows a BigChunk could hold: then no tile is decoded for two
// BigChunks (with stride = kernel; overlapping windows share their overlap either way).
struct Plan {
  std::int64_t cols_per = 1, rows_per = 1, col_groups = 1, row_groups = 1;
  Plan(const Grid& g, std::size_t max_bytes, bool rounded, std::pair<std::int64_t, std::int64_t> tile) {
    const auto ncols = std::int64_t(g.lx.size()), nrows = std::int64_t(g.ly.size());
    const std::int64_t spare = rounded ? 2 : 0;
    auto most = [](const std::vector<std::int64_t>& starts, std::int64_t region, std::int64_t limit) {
      std::int64_t n = 1;
      while (n < std::int64_t(starts.size()) && starts[std::size_t(n)] + region - starts[0] <= limit) ++n;
      return n;
    };
    auto on_tiles = [](const std::vector<std::int64_t>& starts, std::int64_t n, std::int64_t t) {
      if (t <= 0) return n;
      for (std::int64_t m = n; m > 0 && 2 * m >= n && m < std::int64_t(starts.size()); --m)
        if (starts[std::size_t(m)] % t == 0) return m;
      return n;
    };
    cols_per =
        on_tiles(g.lx, most(g.lx, g.kw + spare, std::int64_t(max_bytes / (3 * std::size_t(g.kh + spare)))), tile.first);
    const std::int64_t span_w = g.lx[std::size_t(cols_per - 1)] + g.kw - g.lx[0] + spare;
    rows_per =
        on_tiles(g.ly, most(g.ly, g.kh + spare, std::int64_t(max_bytes / (3 * std::size_t(span_w)))), tile.second);
    col_groups = (ncols + cols_per - 1) / cols_per;
    row_groups = (nrows + rows_per - 1) / rows_per;
  }
  std::int64_t count() const { return col_groups * row_groups; }
};

int level_for(const SlidingWindowOptions& sw, const Patient& p, const Slide& s) {
  return sw.level_of() ? sw.level_of()(p, s) : sw.level();
}

class SlidingWindowLoader : public BigChunkLoader {
 public:
  explicit SlidingWindowLoader(SlidingWindowOptions sw) : sw_(std::move(sw)) {}
  std::optional<BigChunk> extract_bigchunk(const nlohmann::json&) override {
    if (!slide_) {  // once a visit
      slide_ = std::make_unique<Slide>(open_record_slide(patient().record(sw_.record())));
      slide_->set_decode_threads(options().decode_threads());
      (void)record_roi(patient().record(sw_.record()), sw_.roi(), slide_.get());  // served nothing: refused
    }
    const int k = sw_.kernel();
    int level = 0;
    WindowBlock info;
    if (sw_.mpp() > 0) {
      const PhysicalRegion r = slide_->physical_region(sw_.mpp(), k, k, sw_.upsample());
      level = r.level;
      info.mpp = sw_.mpp(), info.scale_x = sw_.mpp() / r.level_mpp_x, info.scale_y = sw_.mpp() / r.level_mpp_y;
      info.kw = r.width, info.kh = r.height, info.upsample = r.upsample;
    } else {
      level = level_for(sw_, patient(), *slide_);
      info.kw = info.kh = k;
    }
    const LevelInfo& L = slide_->level(level);
    info.level_width = L.width, info.level_height = L.height;
    const Grid grid = info.grid(sw_);
    const Plan plan(grid, options().max_bigchunk_bytes(), sw_.mpp() > 0, slide_->tile_size(level));
    const std::int64_t b = WindowPosition::of_checkpoint(get_checkpoint()).bigchunk + bigchunk_number();
    if (b >= plan.count()) return std::nullopt;  // every window served: the patient is finished
    // BigChunk `n` of the plan: its windows' columns and rows, and the level pixels they cover.
    auto block = [&](std::int64_t n, WindowBlock* into) {
      const std::int64_t rg = n / plan.col_groups, cg = n % plan.col_groups;
      into->c0 = cg * plan.cols_per, into->c1 = std::min<std::int64_t>(into->c0 + plan.cols_per, std::int64_t(grid.lx.size()));
      into->r0 = rg * plan.rows_per, into->r1 = std::min<std::int64_t>(into->r0 + plan.rows_per, std::int64_t(grid.ly.size()));
      const std::int64_t x0 = grid.lx[std::size_t(into->c0)], y0 = grid.ly[std::size_t(into->r0)];
      return RegionInfo{std::llround(double(x0) * L.downsample), std::llround(double(y0) * L.downsample), level,
                        int(grid.lx[std::size_t(into->c1 - 1)] + grid.kw - x0),
                        int(grid.ly[std::size_t(into->r1 - 1)] + grid.kh - y0), L.downsample};
    };
    info.index = b, info.of = plan.count();
    BigChunk bc;
    bc.region = block(b, &info);
    const int w = int(bc.region.width), h = int(bc.region.height);
    // A remote slide: the next two BigChunks' tiles are fetched while this one is read.
    for (std::int64_t n = b + (bigchunk_number() == 0 ? 1 : 2); slide_->is_remote() && n <= b + 2 && n < plan.count(); ++n) {
      WindowBlock next;
      const RegionInfo r = block(n, &next);
      slide_->prefetch_region(r.x, r.y, level, r.width, r.height);
    }
    bc.data = allocate(h, w, 3);
    // A damaged tile costs the windows over it (reported), not the band.
    bc.damaged = slide_->read_region_salvage(bc.data.data, bc.region.x, bc.region.y, level, w, h);
    bc.info = info.to_json();
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
      block_ = WindowBlock::from_json(bc.info);
      grid_ = std::make_unique<Grid>(block_.grid(sw_));
      const WindowPosition resume = WindowPosition::of_checkpoint(get_checkpoint());
      first_ = bc.number == 0 && resume.bigchunk == block_.index ? resume.window : 0;
      if (!roi_)
        roi_ = std::make_unique<Annotations>(record_annotations(patient().record(sw_.record())));  // once a visit
      if (sw_.min_tissue() > 0 && !tissue_) {                                                      // once a visit
        tissue_ =
            std::make_unique<TissueMask>(open_record_slide(patient().record(sw_.record())), min_tissue_mask_options());
      }
    }
    const std::int64_t b = block_.index, of = block_.of, c0 = block_.c0, r0 = block_.r0;
    const std::int64_t cols = block_.c1 - c0, count = cols * (block_.r1 - r0);
    const std::int64_t idx = first_ + std::int64_t(call);
    // The checkpoint takes effect once this window is in the ring: resume after it.
    if (idx >= count) {
      set_checkpoint(WindowPosition{b + 1, 0}.to_json());
      set_status({{"state", b + 1 >= of ? "finished" : "busy"}, {"bigchunk", b + 1}, {"of", of}});
      return Extraction::done();
    }
    set_checkpoint(WindowPosition{b, idx + 1}.to_json());
    if (call == 0) set_status({{"state", "busy"}, {"bigchunk", b}, {"of", of}});
    const std::int64_t row = r0 + idx / cols, col = c0 + idx % cols;
    const Grid& g = *grid_;
    const std::int64_t lx = g.lx[std::size_t(col)], ly = g.ly[std::size_t(row)];
    const double ds = bc.region.downsample;
    const std::int64_t bx = std::llround(double(bc.region.x) / ds), by = std::llround(double(bc.region.y) / ds);
    const cv::Rect in_bigchunk(int(lx - bx), int(ly - by), int(g.kw), int(g.kh));
    // Outside the served side of the annotations: not a window of this run.
    const Annotation* cls = nullptr;
    const RegionInfo window{
        std::llround(double(lx) * ds), std::llround(double(ly) * ds), bc.region.level, g.kw, g.kh, ds};
    if (!roi_->empty() && !roi_->serves(window, sw_.roi(), sw_.min_roi_fraction(), &cls)) return Extraction::skip();
    if (tissue_ && tissue_->fraction(window.x, window.y, std::llround(double(g.kw) * ds),
                                     std::llround(double(g.kh) * ds)) < sw_.min_tissue()) {
      return Extraction::skip();
    }
    std::string why;
    if (touches_damage(bc, in_bigchunk.x, in_bigchunk.y, in_bigchunk.width, in_bigchunk.height, &why)) {
      return Extraction::skip({std::llround(double(lx) * ds), std::llround(double(ly) * ds), bc.region.level, int(g.kw),
                               int(g.kh), "window over a damaged tile: " + why});
    }
    SmallChunk c;
    c.data = bc.data(in_bigchunk);
    if (g.kw != sw_.kernel() || g.kh != sw_.kernel()) {  // at a physical resolution: the region, resized
      c.data = resize_to_patch(c.data, cv::Size(sw_.kernel(), sw_.kernel()), block_.upsample);
    }
    if (block_.mpp > 0) c.width = int(g.kw), c.height = int(g.kh), c.mpp = block_.mpp;
    c.x = std::llround(double(lx) * ds);
    c.y = std::llround(double(ly) * ds);
    c.level = bc.region.level;
    const WindowAxis &xs = g.xs, &ys = g.ys;
    const bool last_row = ys.extra_last && row + 1 == std::int64_t(ys.starts.size());
    const bool last_col = xs.extra_last && col + 1 == std::int64_t(xs.starts.size());
    WindowInfo w;
    w.row = row, w.col = col, w.rows = std::int64_t(ys.starts.size()), w.cols = std::int64_t(xs.starts.size());
    w.last_row = last_row, w.last_col = last_col;
    w.overlap_y = last_row ? ys.last_overlap : 0, w.overlap_x = last_col ? xs.last_overlap : 0;
    w.position = {b, idx};
    c.info = w.to_json();
    if (!roi_->empty() && sw_.roi() == RoiMode::Include) c.info["roi"] = cls ? cls->cls : "";
    return c;
  }

 private:
  SlidingWindowOptions sw_;
  WindowBlock block_;                   // the BigChunk's, from its info
  std::int64_t first_ = 0;              // the first window this visit serves of the block
  std::unique_ptr<Grid> grid_;          // the slide's, from the block
  std::unique_ptr<Annotations> roi_;    // the record's, read once a visit
  std::unique_ptr<TissueMask> tissue_;  // with min_tissue, made once a visit
};

class SlidingWindowScheduler : public Scheduler {
 public:
  std::vector<std::int64_t> initial_schedule(const SchedulerView& dl, Rng&) override {
    auto ids = dl.waiting_patients();  // in id order
    ids.resize(std::min<std::size_t>(ids.size(), std::size_t(dl.options().num_bigchunkloaders())));
    return ids;
  }
  // No swaps: a patient stays loaded until its windows are done.
  std::optional<double> swap_interval(const SchedulerView&) override { return std::nullopt; }
  std::optional<std::int64_t> replacement(const SchedulerView& dl, Rng&) override {
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
  check_fraction("min_tissue", sw.min_tissue());
  check_fraction("min_roi_fraction", sw.min_roi_fraction());
  const std::size_t min_bytes = std::size_t(sw.kernel()) * std::size_t(sw.kernel()) * 3;
  if (base.max_bigchunk_bytes() < min_bytes) base.max_bigchunk_bytes(min_bytes);
  return base.patch_shape({sw.kernel(), sw.kernel(), 3});
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
