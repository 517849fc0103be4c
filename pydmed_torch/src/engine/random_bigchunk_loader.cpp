// RandomBigChunkLoader: a BigChunk at a random place of the slide (on the tile grid, inside the
// annotations, on tissue, as asked), read at a level or resampled once to a physical resolution.
#include <algorithm>
#include <cmath>

#include "engine/random_chunk_info.hpp"
#include "pydmed/data/record_slide.hpp"
#include "pydmed/engine/random_chunks.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/physical.hpp"
#include "pydmed/slide/remote.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"

namespace pydmed {

ResampleMode parse_resample_mode(const std::string& text) {
  if (text == "bigchunk") return ResampleMode::BigChunk;
  if (text == "patch") return ResampleMode::Patch;
  throw OptionsError("resample", "must be bigchunk or patch, not '" + text + "'");
}

namespace {

// The level read, and the pixels of it that a patch and the BigChunk take. The BigChunk's size
// counts pixels read at the level, at a native level and at an mpp alike.
struct Footprint {
  int level = 0;
  std::int64_t pw = 0, ph = 0;  // level pixels a patch takes
  int w = 0, h = 0;             // level pixels read
  int tw = 0, th = 0;           // the BigChunk as held: resampled, or as read
  double sx = 1, sy = 1;        // target pixels per level pixel, when each BigChunk is resampled once
  bool resample = false;
  detail::RandomChunkInfo info;  // its physical part
};

// At an mpp with ResampleMode::BigChunk: whole target pixels, the most that fit in the level
// pixels asked for (within the BigChunk area), and the level pixels they cover, rounded (so the
// read differs from the request by less than one target pixel's worth of level pixels).
void resample_once(const Slide& slide, const RandomBigChunkOptions& o, const PatchShape& p, std::size_t area_bytes,
                   Footprint* f) {
  const LevelInfo& L = slide.level(f->level);
  const auto cap = std::int64_t(area_bytes / 3);
  f->tw = int(std::floor(f->w * f->sx)), f->th = int(std::floor(f->h * f->sy));
  if (std::int64_t(f->tw) * f->th > cap) {  // upsampling, or a target up to 1% finer than the level
    const double k = std::sqrt(double(cap) / (double(f->tw) * f->th));
    f->tw = std::max(p.width, int(f->tw * k)), f->th = std::max(p.height, int(f->th * k));
  }
  if (f->tw < p.width || f->th < p.height) {
    throw SlideInputError(slide.path(), "a BigChunk of " + std::to_string(f->w) + " x " + std::to_string(f->h) +
                                            " pixels of level " + std::to_string(f->level) + " is " +
                                            std::to_string(f->tw) + " x " + std::to_string(f->th) + " pixels at " +
                                            mpp_string(o.mpp()) + " um/px, smaller than the " +
                                            std::to_string(p.width) + " x " + std::to_string(p.height) +
                                            " patch: give a larger BigChunk (it counts pixels of the level read)");
  }
  f->w = int(std::min<std::int64_t>(L.width, std::llround(f->tw / f->sx)));
  f->h = int(std::min<std::int64_t>(L.height, std::llround(f->th / f->sy)));
  f->pw = std::min<std::int64_t>(f->w, std::llround(std::ceil(p.width / f->sx))),
  f->ph = std::min<std::int64_t>(f->h, std::llround(std::ceil(p.height / f->sy)));
  f->info.read_width = f->w, f->info.read_height = f->h;
  f->info.level_downsample = L.downsample;
}

Footprint footprint(const Slide& slide, const RandomBigChunkOptions& o, const PatchShape& p, std::size_t area_bytes) {
  Footprint f;
  f.level = o.level();
  f.pw = p.width, f.ph = p.height;
  std::string needs = "the " + std::to_string(p.width) + " x " + std::to_string(p.height) + " patch";
  if (o.mpp() > 0) {
    const PhysicalRegion patch = slide.physical_region(o.mpp(), p.width, p.height, o.upsample());
    f.level = patch.level, f.pw = patch.width, f.ph = patch.height;
    needs = std::to_string(f.pw) + " x " + std::to_string(f.ph) + " pixels, what a " + std::to_string(p.width) +
            " x " + std::to_string(p.height) + " patch at " + mpp_string(o.mpp()) + " um/px takes";
    f.info.mpp = o.mpp(), f.info.upsample = patch.upsample;
    if (o.resample() == ResampleMode::Patch) {
      f.info.patch_width = int(f.pw), f.info.patch_height = int(f.ph);
    } else {
      f.sx = patch.level_mpp_x / o.mpp(), f.sy = patch.level_mpp_y / o.mpp();
      f.resample = f.sx != 1 || f.sy != 1;  // at the level's own mpp there is nothing to resample
    }
  } else if (o.width() < p.width || o.height() < p.height) {
    // A BigChunk smaller than a patch would serve one patch over and over, or padding.
    throw InputError("BigChunk of " + std::to_string(o.width()) + " x " + std::to_string(o.height()) +
                     " pixels is smaller than the " + std::to_string(p.width) + " x " + std::to_string(p.height) +
                     " patch");
  }
  const LevelInfo& L = slide.level(f.level);
  if (L.width < f.pw || L.height < f.ph) {
    throw SlideInputError(slide.path(), "level " + std::to_string(f.level) + " is " + std::to_string(L.width) + " x " +
                                            std::to_string(L.height) + " pixels, smaller than " + needs);
  }
  f.w = int(std::min<std::int64_t>(o.width(), L.width));
  f.h = int(std::min<std::int64_t>(o.height(), L.height));
  f.tw = f.w, f.th = f.h;
  if (f.resample) {
    resample_once(slide, o, p, area_bytes, &f);
  } else if (f.w < f.pw || f.h < f.ph) {
    throw SlideInputError(slide.path(), "a BigChunk of " + std::to_string(f.w) + " x " + std::to_string(f.h) +
                                            " pixels of level " + std::to_string(f.level) + " is smaller than " +
                                            needs);
  }
  return f;
}

// On the tile grid, per axis where the BigChunk can move and holds a tile's worth of patch
// offsets: positions are then multiples of the tile, and the collector draws patch offsets
// from [0, span), a multiple of the tile too, which keeps the interior's pixels equally likely.
struct TileGrid {
  std::int64_t gx = 0, gy = 0, span_x = 0, span_y = 0;
  TileGrid() = default;  // off the grid
  TileGrid(const Slide& slide, const Footprint& f) {
    const LevelInfo& L = slide.level(f.level);
    const auto grid = slide.tile_size(f.level);
    if (grid.first > 0 && L.width > f.w && f.w - f.pw + 1 >= grid.first)
      gx = grid.first, span_x = (f.w - f.pw + 1) / gx * gx;
    if (grid.second > 0 && L.height > f.h && f.h - f.ph + 1 >= grid.second)
      gy = grid.second, span_y = (f.h - f.ph + 1) / gy * gy;
  }
};

// Damage in pixels of the resampled BigChunk: every target pixel that a damaged pixel, or its
// neighbour (INTER_LINEAR's reach when upsampling), feeds.
std::vector<DamagedPiece> resampled_damage(const std::vector<DamagedPiece>& read, const Footprint& f) {
  std::vector<DamagedPiece> out;
  const double rx = double(f.tw) / f.w, ry = double(f.th) / f.h;
  for (DamagedPiece d : read) {
    const int x0 = std::max(0, int(std::floor((d.x - 1) * rx))), y0 = std::max(0, int(std::floor((d.y - 1) * ry)));
    const int x1 = std::min(f.tw, int(std::ceil((d.x + d.width + 1) * rx))),
              y1 = std::min(f.th, int(std::ceil((d.y + d.height + 1) * ry)));
    d.x = x0, d.y = y0, d.width = x1 - x0, d.height = y1 - y0;
    out.push_back(d);
  }
  return out;
}

}  // namespace

RandomBigChunkLoader::RandomBigChunkLoader(RandomBigChunkOptions o) : o_(std::move(o)) {}
RandomBigChunkLoader::~RandomBigChunkLoader() = default;

std::pair<std::int64_t, std::int64_t> RandomBigChunkLoader::position(Rng& rng, int level, int w, int h,
                                                                     std::int64_t gx, std::int64_t gy) const {
  const LevelInfo& L = slide_->level(level);
  const std::int64_t mx = std::max<std::int64_t>(0, L.width - w), my = std::max<std::int64_t>(0, L.height - h);
  // Inside annotations: a BigChunk holding a random point of a polygon, anywhere in it.
  if (!roi_->empty() && o_.roi() == RoiMode::Include) {
    const auto pt = roi_->random_point(rng);
    if (!pt)
      throw Error(roi_path_ + ": no point found inside the annotations (no polygon with area, or only very thin ones)");
    const auto px = std::int64_t(pt->x / L.downsample), py = std::int64_t(pt->y / L.downsample);
    // y drawn first, x second: the order the positions were always drawn in (a seed's stays).
    const std::int64_t y = std::clamp<std::int64_t>(py - rng.between(0, h - 1), 0, my);
    return {std::clamp<std::int64_t>(px - rng.between(0, w - 1), 0, mx), y};
  }
  // On the grid, plus the last position itself where it is off the grid, so that the edge is
  // reached; a BigChunk there draws its patches anywhere in it.
  auto along = [&](std::int64_t g, std::int64_t m) {
    if (!g) return rng.between(0, m);
    const std::int64_t k = rng.between(0, m / g + (m % g != 0));
    return std::min(k * g, m);
  };
  const std::int64_t y = along(gy, my);  // y first, as above
  return {along(gx, mx), y};
}

std::pair<std::int64_t, std::int64_t> RandomBigChunkLoader::choose(Rng rng, int level, int w, int h, std::int64_t gx,
                                                                   std::int64_t gy) {
  auto [lx, ly] = position(rng, level, w, h, gx, gy);
  if (o_.min_tissue() > 0) {  // the most tissue of 64 draws, or the first with enough
    const LevelInfo& L = slide_->level(level);
    if (!mask_) mask_ = std::make_unique<TissueMask>(*slide_, min_tissue_mask_options());
    double best = -1;
    for (int attempt = 0; attempt < 64; ++attempt) {
      const auto [cx, cy] = attempt == 0 ? std::pair(lx, ly) : position(rng, level, w, h, gx, gy);
      const double frac = mask_->fraction(std::llround(cx * L.downsample), std::llround(cy * L.downsample),
                                          std::llround(w * L.downsample), std::llround(h * L.downsample));
      if (frac > best) best = frac, lx = cx, ly = cy;
      if (frac >= o_.min_tissue()) break;
    }
  }
  return {lx, ly};
}

std::optional<BigChunk> RandomBigChunkLoader::extract_bigchunk(const nlohmann::json&) {
  if (!slide_) {  // once a visit
    const Record& record = patient().record(o_.record());
    slide_ = std::make_unique<Slide>(open_record_slide(record));
    slide_->set_decode_threads(options().decode_threads());
    roi_ = std::make_unique<Annotations>(record_roi(record, o_.roi(), slide_.get()));
    if (!roi_->empty()) roi_path_ = record.dict_infos["roi"].get<std::string>();
  }
  Slide& slide = *slide_;
  const PatchShape& p = options().patch_shape();
  Footprint f = footprint(slide, o_, p, options().max_bigchunk_bytes());
  const LevelInfo& L = slide.level(f.level);
  TileGrid grid = o_.align_to_tiles() && !(!roi_->empty() && o_.roi() == RoiMode::Include) ? TileGrid(slide, f)
                                                                                            : TileGrid();
  // Positions in pixels of the level, so level-0 positions are whole multiples of the downsample.
  const auto [lx, ly] = choose(random_stream(), f.level, f.w, f.h, grid.gx, grid.gy);
  // A remote slide: the tiles of the next BigChunks come over the network while this one is
  // read (the first of a visit pays one round trip; each later one was asked for `ahead` reads
  // ago). Four ahead hides 30 ms a request at the decoder's pace (two: 0.70 of the disk rate on
  // the benchmark's 40000-px slides, four: 0.85); two where the process's block cache is small,
  // which four BigChunks' tiles would churn.
  const std::uint32_t ahead = remote_options().memory_bytes() >= (std::uint64_t(64) << 20) ? 4 : 2;
  for (std::uint32_t k = bigchunk_number() == 0 ? 1 : ahead; slide.is_remote() && k <= ahead; ++k) {
    const auto [nx, ny] = choose(random_stream_ahead(k), f.level, f.w, f.h, grid.gx, grid.gy);
    slide.prefetch_region(std::llround(nx * L.downsample), std::llround(ny * L.downsample), f.level, f.w, f.h);
  }
  BigChunk bc;
  bc.region = {std::llround(lx * L.downsample), std::llround(ly * L.downsample), f.level, f.w, f.h, L.downsample};
  if (!f.resample) {
    bc.data = allocate(f.h, f.w, 3);
    // A damaged tile costs its own pixels, not the BigChunk: the collector draws around it.
    bc.damaged = slide.read_region_salvage(bc.data.data, bc.region.x, bc.region.y, f.level, f.w, f.h);
  } else {
    // Read here (this process's scratch), resampled once into the BigChunk area: the collector
    // then cuts patches as at a native level, in pixels of the target mpp.
    if (scratch_.total() * scratch_.elemSize() < std::size_t(f.w) * std::size_t(f.h) * 3)
      scratch_.create(f.h, f.w, CV_8UC3);
    const cv::Mat read(f.h, f.w, CV_8UC3, scratch_.data);
    const std::vector<DamagedPiece> damaged =
        slide.read_region_salvage(read.data, bc.region.x, bc.region.y, f.level, f.w, f.h);
    bc.data = allocate(f.th, f.tw, 3);
    resize_into(read, bc.data, o_.upsample() && (f.sx > 1 || f.sy > 1));
    bc.damaged = resampled_damage(damaged, f);
    bc.region.width = f.tw, bc.region.height = f.th;
    bc.region.downsample = L.downsample * double(f.w) / f.tw;  // level-0 pixels per BigChunk pixel
    grid.span_x = std::min<std::int64_t>(f.tw - p.width + 1, std::int64_t(std::floor(grid.span_x * f.sx)));
    grid.span_y = std::min<std::int64_t>(f.th - p.height + 1, std::int64_t(std::floor(grid.span_y * f.sy)));
  }
  // How the collector cuts and resizes, and which patches it may serve.
  detail::RandomChunkInfo& info = f.info;
  if (grid.gx || grid.gy) {
    info.on_grid = true;  // per axis, 0: anywhere
    info.offsets_x = grid.gx && lx % grid.gx == 0 ? grid.span_x : 0;
    info.offsets_y = grid.gy && ly % grid.gy == 0 ? grid.span_y : 0;
  }
  info.record = o_.record();
  if (!roi_->empty()) info.roi = roi_path_, info.roi_mode = o_.roi(), info.min_roi_fraction = o_.min_roi_fraction();
  bc.info = info.to_json();
  return bc;
}

LoaderFactory random_bigchunk_loader(const RandomBigChunkOptions& o) {
  check_fraction("min_tissue", o.min_tissue());
  check_fraction("min_roi_fraction", o.min_roi_fraction());
  return [o] { return std::make_unique<RandomBigChunkLoader>(o); };
}

}  // namespace pydmed
