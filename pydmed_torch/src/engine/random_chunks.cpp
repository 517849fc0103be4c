#include "pydmed/engine/random_chunks.hpp"

#include <algorithm>
#include <cmath>

#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/physical.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"

namespace pydmed {

ResampleMode parse_resample_mode(const std::string& text) {
  if (text == "bigchunk") return ResampleMode::BigChunk;
  if (text == "patch") return ResampleMode::Patch;
  throw OptionsError("resample", "must be bigchunk or patch, not '" + text + "'");
}

namespace {
// The one tissue mask of a slide that both sides use (the loader for BigChunks, the collector
// for patches), so a patch's fraction means the same on both.
std::unique_ptr<TissueMask> tissue_of(const Slide& slide) {
  return std::make_unique<TissueMask>(slide, min_tissue_mask_options());
}
}  // namespace

RandomBigChunkLoader::RandomBigChunkLoader(RandomBigChunkOptions o) : o_(std::move(o)) {}
RandomBigChunkLoader::~RandomBigChunkLoader() = default;

std::optional<BigChunk> RandomBigChunkLoader::extract_bigchunk(const nlohmann::json&) {
  if (!slide_) {
    const Record& record = patient().record(o_.record());
    slide_ = std::make_unique<Slide>(open_record_slide(record));
    slide_->set_decode_threads(options().decode_threads());
    roi_ = std::make_unique<Annotations>(record_roi(record, o_.roi(), slide_.get()));
    if (!roi_->empty()) roi_path_ = record.dict_infos["roi"].get<std::string>();
  }
  Slide& slide = *slide_;
  const bool include = !roi_->empty() && o_.roi() == RoiMode::Include;
  const PatchShape& p = options().patch_shape();
  // The level read, and the pixels of it that a patch and the BigChunk take. The BigChunk's
  // size counts pixels read at the level, at a native level and at an mpp alike.
  int level = o_.level();
  std::int64_t pw = p.width, ph = p.height;
  std::string needs = "the " + std::to_string(p.width) + " x " + std::to_string(p.height) + " patch";
  nlohmann::json physical;
  double sx = 1, sy = 1;  // target pixels per level pixel, when each BigChunk is resampled once
  bool resample = false;
  if (o_.mpp() > 0) {
    const PhysicalRegion patch = slide.physical_region(o_.mpp(), p.width, p.height, o_.upsample());
    level = patch.level, pw = patch.width, ph = patch.height;
    needs = std::to_string(pw) + " x " + std::to_string(ph) + " pixels, what a " + std::to_string(p.width) + " x " +
            std::to_string(p.height) + " patch at " + mpp_string(o_.mpp()) + " um/px takes";
    physical = {{"mpp", o_.mpp()}, {"upsample", patch.upsample}};
    if (o_.resample() == ResampleMode::Patch) {
      physical["patch_width"] = pw, physical["patch_height"] = ph;
    } else {
      sx = patch.level_mpp_x / o_.mpp(), sy = patch.level_mpp_y / o_.mpp();
      resample = sx != 1 || sy != 1;  // at the level's own mpp there is nothing to resample
    }
  } else if (o_.width() < p.width || o_.height() < p.height) {
    // A BigChunk smaller than a patch would serve one patch over and over, or padding.
    throw InputError("BigChunk of " + std::to_string(o_.width()) + " x " + std::to_string(o_.height()) +
                     " pixels is smaller than the " + std::to_string(p.width) + " x " + std::to_string(p.height) +
                     " patch");
  }
  const LevelInfo& L = slide.level(level);
  if (L.width < pw || L.height < ph) {
    throw SlideInputError(slide.path(), "level " + std::to_string(level) + " is " + std::to_string(L.width) + " x " +
                                            std::to_string(L.height) + " pixels, smaller than " + needs);
  }
  int w = int(std::min<std::int64_t>(o_.width(), L.width));
  int h = int(std::min<std::int64_t>(o_.height(), L.height));
  int tw = w, th = h;  // the BigChunk as held: resampled, or as read
  if (resample) {
    // Whole target pixels: the most that fit in the level pixels asked for (within the BigChunk
    // area), and the level pixels they cover, rounded (so the read differs from the request by
    // less than one target pixel's worth of level pixels).
    const auto cap = std::int64_t(options().max_bigchunk_bytes() / 3);
    tw = int(std::floor(w * sx)), th = int(std::floor(h * sy));
    if (std::int64_t(tw) * th > cap) {  // upsampling, or a target up to 1% finer than the level
      const double f = std::sqrt(double(cap) / (double(tw) * th));
      tw = std::max(p.width, int(tw * f)), th = std::max(p.height, int(th * f));
    }
    if (tw < p.width || th < p.height) {
      throw SlideInputError(slide.path(), "a BigChunk of " + std::to_string(w) + " x " + std::to_string(h) +
                                              " pixels of level " + std::to_string(level) + " is " +
                                              std::to_string(tw) + " x " + std::to_string(th) + " pixels at " +
                                              mpp_string(o_.mpp()) + " um/px, smaller than the " +
                                              std::to_string(p.width) + " x " + std::to_string(p.height) +
                                              " patch: give a larger BigChunk (it counts pixels of the level read)");
    }
    w = int(std::min<std::int64_t>(L.width, std::llround(tw / sx)));
    h = int(std::min<std::int64_t>(L.height, std::llround(th / sy)));
    pw = std::min<std::int64_t>(w, std::llround(std::ceil(p.width / sx))),
    ph = std::min<std::int64_t>(h, std::llround(std::ceil(p.height / sy)));
    physical["resample"] = "bigchunk";
    physical["read"] = {w, h};
    physical["level_downsample"] = L.downsample;
  } else if (w < pw || h < ph) {
    throw SlideInputError(slide.path(), "a BigChunk of " + std::to_string(w) + " x " + std::to_string(h) +
                                            " pixels of level " + std::to_string(level) + " is smaller than " + needs);
  }
  // On the tile grid, per axis where the BigChunk can move and holds a tile's worth of patch
  // offsets: positions are then multiples of the tile, and the collector draws patch offsets
  // from [0, span), a multiple of the tile too, which keeps the interior's pixels equally likely.
  std::int64_t gx = 0, gy = 0, span_x = 0, span_y = 0;
  if (o_.align_to_tiles() && !include) {
    const auto grid = slide.tile_size(level);
    if (grid.first > 0 && L.width > w && w - pw + 1 >= grid.first) gx = grid.first, span_x = (w - pw + 1) / gx * gx;
    if (grid.second > 0 && L.height > h && h - ph + 1 >= grid.second) gy = grid.second, span_y = (h - ph + 1) / gy * gy;
  }
  Rng rng = random_stream();
  // Positions in pixels of the level, so level-0 positions are whole multiples of the downsample.
  // Inside annotations: a BigChunk holding a random point of a polygon, anywhere in it.
  auto draw = [&] {
    const std::int64_t mx = std::max<std::int64_t>(0, L.width - w), my = std::max<std::int64_t>(0, L.height - h);
    if (include) {
      const auto pt = roi_->random_point(rng);
      if (!pt)
        throw Error(roi_path_ +
                    ": no point found inside the annotations (no polygon with area, or only very thin ones)");
      const auto px = std::int64_t(pt->x / L.downsample), py = std::int64_t(pt->y / L.downsample);
      return std::pair<std::int64_t, std::int64_t>(std::clamp<std::int64_t>(px - rng.between(0, w - 1), 0, mx),
                                                   std::clamp<std::int64_t>(py - rng.between(0, h - 1), 0, my));
    }
    // On the grid, plus the last position itself where it is off the grid, so that the edge is
    // reached; a BigChunk there draws its patches anywhere in it.
    auto position = [&](std::int64_t g, std::int64_t m) {
      if (!g) return rng.between(0, m);
      const std::int64_t k = rng.between(0, m / g + (m % g != 0));
      return std::min(k * g, m);
    };
    return std::pair<std::int64_t, std::int64_t>(position(gx, mx), position(gy, my));
  };
  auto [lx, ly] = draw();
  if (o_.min_tissue() > 0) {
    if (!mask_) mask_ = tissue_of(slide);
    const TissueMask& mask = *mask_;
    double best = -1;
    for (int attempt = 0; attempt < 64; ++attempt) {
      const auto [cx, cy] = attempt == 0 ? std::pair(lx, ly) : draw();
      const double f = mask.fraction(std::llround(cx * L.downsample), std::llround(cy * L.downsample),
                                     std::llround(w * L.downsample), std::llround(h * L.downsample));
      if (f > best) best = f, lx = cx, ly = cy;
      if (f >= o_.min_tissue()) break;
    }
  }
  BigChunk bc;
  bc.region = {std::llround(lx * L.downsample), std::llround(ly * L.downsample), level, w, h, L.downsample};
  if (!resample) {
    bc.data = allocate(h, w, 3);
    // A damaged tile costs its own pixels, not the BigChunk: the collector draws around it.
    bc.damaged = slide.read_region_salvage(bc.data.data, bc.region.x, bc.region.y, level, w, h);
  } else {
    // Read here (this process's scratch), resampled once into the BigChunk area: the collector
    // then cuts patches as at a native level, in pixels of the target mpp.
    if (scratch_.total() * scratch_.elemSize() < std::size_t(w) * std::size_t(h) * 3) scratch_.create(h, w, CV_8UC3);
    const cv::Mat read(h, w, CV_8UC3, scratch_.data);
    const std::vector<DamagedPiece> damaged =
        slide.read_region_salvage(read.data, bc.region.x, bc.region.y, level, w, h);
    bc.data = allocate(th, tw, 3);
    resize_into(read, bc.data, o_.upsample() && (sx > 1 || sy > 1));
    // Damage in pixels of the resampled BigChunk: every target pixel that a damaged pixel, or
    // its neighbour (INTER_LINEAR's reach when upsampling), feeds.
    const double rx = double(tw) / w, ry = double(th) / h;
    for (DamagedPiece d : damaged) {
      const int x0 = std::max(0, int(std::floor((d.x - 1) * rx))), y0 = std::max(0, int(std::floor((d.y - 1) * ry)));
      const int x1 = std::min(tw, int(std::ceil((d.x + d.width + 1) * rx))),
                y1 = std::min(th, int(std::ceil((d.y + d.height + 1) * ry)));
      d.x = x0, d.y = y0, d.width = x1 - x0, d.height = y1 - y0;
      bc.damaged.push_back(d);
    }
    bc.region.width = tw, bc.region.height = th;
    bc.region.downsample = L.downsample * double(w) / tw;  // level-0 pixels per BigChunk pixel
    span_x = std::min<std::int64_t>(tw - p.width + 1, std::int64_t(std::floor(span_x * sx)));
    span_y = std::min<std::int64_t>(th - p.height + 1, std::int64_t(std::floor(span_y * sy)));
  }
  if (!physical.is_null()) bc.info = std::move(physical);  // how the collector cuts and resizes
  if (gx || gy)
    bc.info["patch_offsets"] = {gx && lx % gx == 0 ? span_x : 0,
                                gy && ly % gy == 0 ? span_y : 0};  // per axis, 0: anywhere
  if (o_.record() != "wsi") bc.info["record"] = o_.record();       // the collector's min_tissue reads it too
  if (!roi_->empty()) {                                            // which patches the collector may serve
    bc.info["roi"] = roi_path_;
    bc.info["roi_mode"] = to_string(o_.roi());
    bc.info["min_roi_fraction"] = o_.min_roi_fraction();
  }
  return bc;
}

Extraction RandomSmallChunkCollector::extract_smallchunk(std::uint64_t call_count, const BigChunk& bc,
                                                         const nlohmann::json&) {
  // Damaged tiles: the first calls report each once, then patches are drawn around them.
  const std::uint64_t reports = bc.damaged.size();
  if (call_count < reports) {
    const DamagedPiece& d = bc.damaged[call_count];
    const double ds = bc.region.downsample, lds = bc.info.value("level_downsample", ds);
    return Extraction::skip({bc.region.x + std::llround(d.x * ds), bc.region.y + std::llround(d.y * ds),
                             bc.region.level, int(std::lround(d.width * ds / lds)),
                             int(std::lround(d.height * ds / lds)), "damaged tile skipped: " + d.reason});
  }
  if (o_.max_per_bigchunk() > 0 && call_count - reports >= o_.max_per_bigchunk()) return Extraction::done();
  const PatchShape& p = options().patch_shape();
  // The region of the BigChunk a patch takes: the patch's own size, or at a physical
  // resolution what the loader says (RandomBigChunkOptions::mpp).
  int rw = p.width, rh = p.height;
  double mpp = 0;
  bool upsample = false;
  // The level pixels the BigChunk was read from, when it was resampled once (else its own size).
  int read_w = bc.data.cols, read_h = bc.data.rows;
  PatchCut::Resample how = PatchCut::Resample::kBigChunk;
  if (const auto it = bc.info.find("mpp"); it != bc.info.end()) {
    mpp = it->get<double>();
    upsample = bc.info.value("upsample", false);
    if (const auto pw = bc.info.find("patch_width"); pw != bc.info.end()) {
      rw = pw->get<int>(), rh = bc.info.at("patch_height").get<int>();
      how = PatchCut::Resample::kPatch;
    } else if (const auto read = bc.info.find("read"); read != bc.info.end()) {
      read_w = read->at(0).get<int>(), read_h = read->at(1).get<int>();
    }
  }
  if (bc.data.cols < rw || bc.data.rows < rh || bc.data.channels() != p.channels) {
    throw Error("BigChunk " + std::to_string(bc.data.cols) + " x " + std::to_string(bc.data.rows) +
                " is smaller than a patch's " + std::to_string(rw) + " x " + std::to_string(rh) + " pixels");
  }
  // Annotations: read once per visit (a collector lives for one), as the loader named them.
  const Annotations* roi = nullptr;
  bool include = true;
  double min_fraction = 0;
  if (const auto it = bc.info.find("roi"); it != bc.info.end()) {
    if (const auto& path = it->get_ref<const std::string&>(); path != roi_path_)
      roi_ = Annotations::read(roi_path_ = path);
    roi = &roi_;
    include = bc.info.value("roi_mode", "include") == "include";
    min_fraction = bc.info.value("min_roi_fraction", 0.0);
  }
  const double ds = bc.region.downsample;
  if (o_.min_tissue() > 0 && !tissue_)
    tissue_ = tissue_of(open_record_slide(patient().record(bc.info.value("record", "wsi"))));
  const RoiMode mode = include ? RoiMode::Include : RoiMode::Exclude;
  // The region of the level a patch at (px, py) of the BigChunk reads, its corner in level-0 pixels.
  auto region_at = [&](int px, int py) {
    return RegionInfo{std::llround((double(bc.region.x) / ds + px) * ds),
                      std::llround((double(bc.region.y) / ds + py) * ds),
                      bc.region.level,
                      rw,
                      rh,
                      ds};
  };
  const Annotation* cls = nullptr;
  auto served = [&](int px, int py) {
    const RegionInfo r = region_at(px, py);
    if (tissue_ && tissue_->fraction(r.x, r.y, std::llround(rw * ds), std::llround(rh * ds)) < o_.min_tissue())
      return false;
    return !roi || roi->serves(r, mode, min_fraction, &cls);
  };
  Rng rng = random_stream(call_count);
  // A BigChunk on the tile grid says from how many offsets per axis to draw (see the loader).
  std::int64_t offsets[2] = {0, 0};
  if (const auto it = bc.info.find("patch_offsets"); it != bc.info.end())
    offsets[0] = it->at(0), offsets[1] = it->at(1);
  const cv::Rect2d bigchunk(double(bc.region.x), double(bc.region.y), bc.data.cols * ds, bc.data.rows * ds);
  auto draw = [&]() -> std::pair<int, int> {
    // Inside annotations: around a random point of the polygons meeting this BigChunk, so small
    // polygons are found at once; else uniformly.
    if (roi && include) {
      if (const auto pt = roi->random_point(rng, &bigchunk)) {
        return {std::clamp(int(std::floor((pt->x - bigchunk.x) / ds - rw / 2.0)), 0, bc.data.cols - rw),
                std::clamp(int(std::floor((pt->y - bigchunk.y) / ds - rh / 2.0)), 0, bc.data.rows - rh)};
      }
    }
    return {int(offsets[0] ? rng.between(0, offsets[0] - 1) : rng.between(0, bc.data.cols - rw)),
            int(offsets[1] ? rng.between(0, offsets[1] - 1) : rng.between(0, bc.data.rows - rh))};
  };
  auto [px, py] = draw();
  // Around the damage, on tissue, inside (or outside) the annotations; a BigChunk with no place
  // found in 64 draws is done, and 16 such BigChunks in a row mean there is nothing to serve.
  for (int attempt = 0; touches_damage(bc, px, py, rw, rh) || !served(px, py); ++attempt) {
    if (attempt == 64) {
      if (bc.number != last_served_bigchunk_ && ++empty_bigchunks_ >= 16) {
        std::string rule;
        if (roi) rule += std::string(include ? " inside" : " outside") + " the annotations of " + roi_path_;
        if (o_.min_tissue() > 0)
          rule += (rule.empty() ? "" : " and") + std::string(" with ") + std::to_string(o_.min_tissue()) + " tissue";
        if (rule.empty()) rule = " clear of damaged tiles";
        throw Error(std::to_string(empty_bigchunks_) + " BigChunks in a row held no patch" + rule +
                    ": nothing to serve");
      }
      return Extraction::done();
    }
    std::tie(px, py) = draw();
  }
  last_served_bigchunk_ = bc.number;
  empty_bigchunks_ = 0;
  SmallChunk c;
  if (roi && include) c.info = {{"roi", cls ? cls->cls : ""}};
  c.data = bc.data(cv::Rect(px, py, rw, rh));
  if (rw != p.width || rh != p.height) {
    c.data = resize_to_patch(c.data, cv::Size(p.width, p.height), upsample);
  }
  c.cut = {how, read_w, read_h, px, py};
  c.level = bc.region.level;
  // Level-0 position: the BigChunk's corner plus the offset in level pixels (through the
  // resample's ratio, per axis, when there was one), scaled by the level's downsample.
  const double lds = bc.info.value("level_downsample", bc.region.downsample);
  const double fx = double(read_w) / bc.data.cols, fy = double(read_h) / bc.data.rows;
  c.x = bc.region.x + std::llround(px * fx * lds);
  c.y = bc.region.y + std::llround(py * fy * lds);
  if (mpp > 0) {  // the patch's footprint in level pixels, rounded
    c.mpp = mpp;
    c.width = how == PatchCut::Resample::kPatch ? rw : int(std::lround(rw * fx));
    c.height = how == PatchCut::Resample::kPatch ? rh : int(std::lround(rh * fy));
  }
  return c;
}

}  // namespace pydmed
