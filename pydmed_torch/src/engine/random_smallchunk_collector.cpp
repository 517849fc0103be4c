// RandomSmallChunkCollector: uniformly random patches of a BigChunk, around its damaged tiles,
// on tissue and inside (or outside) the annotations as its loader says (RandomChunkInfo).
#include <algorithm>
#include <cmath>

#include "engine/random_chunk_info.hpp"
#include "pydmed/data/record_slide.hpp"
#include "pydmed/engine/random_chunks.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/physical.hpp"
#include "pydmed/slide/tissue_mask.hpp"

namespace pydmed {

RandomSmallChunkCollector::RandomSmallChunkCollector(RandomSmallChunkOptions o) : o_(o) {}
RandomSmallChunkCollector::~RandomSmallChunkCollector() = default;

namespace {
// Damaged tiles: the first calls report each once, in level pixels.
Extraction damage_report(const BigChunk& bc, const detail::RandomChunkInfo& info, std::uint64_t call) {
  const DamagedPiece& d = bc.damaged[call];
  const double ds = bc.region.downsample, lds = info.resampled_once() ? info.level_downsample : ds;
  return Extraction::skip({bc.region.x + std::llround(d.x * ds), bc.region.y + std::llround(d.y * ds),
                           bc.region.level, int(std::lround(d.width * ds / lds)), int(std::lround(d.height * ds / lds)),
                           "damaged tile skipped: " + d.reason});
}
}  // namespace

void RandomSmallChunkCollector::begin(const BigChunk& bc) {
  const PatchShape& p = options().patch_shape();
  // The region of the BigChunk a patch takes: the patch's own size, or at a physical
  // resolution what the loader says (RandomBigChunkOptions::mpp).
  rw_ = info_->patch_width > 0 ? info_->patch_width : p.width;
  rh_ = info_->patch_width > 0 ? info_->patch_height : p.height;
  if (bc.data.cols < rw_ || bc.data.rows < rh_ || bc.data.channels() != p.channels) {
    throw Error("BigChunk " + std::to_string(bc.data.cols) + " x " + std::to_string(bc.data.rows) +
                " is smaller than a patch's " + std::to_string(rw_) + " x " + std::to_string(rh_) + " pixels");
  }
  // Annotations: read once per visit (a collector lives for one), as the loader named them.
  if (!info_->roi.empty() && info_->roi != roi_path_) roi_ = Annotations::read(roi_path_ = info_->roi);
  if (o_.min_tissue() > 0 && !tissue_)
    tissue_ = std::make_unique<TissueMask>(open_record_slide(patient().record(info_->record)), min_tissue_mask_options());
}

// Whether the patch at (px, py) of the BigChunk may be served: on tissue, inside (or outside)
// the annotations; `cls` gets the annotation it lies in.
bool RandomSmallChunkCollector::served(const BigChunk& bc, int px, int py, const Annotation** cls) const {
  const double ds = bc.region.downsample;
  // The region of the level a patch at (px, py) of the BigChunk reads, its corner in level-0 pixels.
  const RegionInfo r{std::llround((double(bc.region.x) / ds + px) * ds),
                     std::llround((double(bc.region.y) / ds + py) * ds),
                     bc.region.level,
                     rw_,
                     rh_,
                     ds};
  if (tissue_ && tissue_->fraction(r.x, r.y, std::llround(rw_ * ds), std::llround(rh_ * ds)) < o_.min_tissue())
    return false;
  return info_->roi.empty() || roi_.serves(r, info_->roi_mode, info_->min_roi_fraction, cls);
}

// Inside annotations: around a random point of the polygons meeting this BigChunk, so small
// polygons are found at once; else uniformly (from the loader's offsets on the tile grid).
std::pair<int, int> RandomSmallChunkCollector::draw(const BigChunk& bc, Rng& rng) const {
  const double ds = bc.region.downsample;
  if (!info_->roi.empty() && info_->roi_mode == RoiMode::Include) {
    const cv::Rect2d bigchunk(double(bc.region.x), double(bc.region.y), bc.data.cols * ds, bc.data.rows * ds);
    if (const auto pt = roi_.random_point(rng, &bigchunk)) {
      return {std::clamp(int(std::floor((pt->x - bigchunk.x) / ds - rw_ / 2.0)), 0, bc.data.cols - rw_),
              std::clamp(int(std::floor((pt->y - bigchunk.y) / ds - rh_ / 2.0)), 0, bc.data.rows - rh_)};
    }
  }
  const int x = int(info_->offsets_x ? rng.between(0, info_->offsets_x - 1) : rng.between(0, bc.data.cols - rw_));
  return {x, int(info_->offsets_y ? rng.between(0, info_->offsets_y - 1) : rng.between(0, bc.data.rows - rh_))};
}

Extraction RandomSmallChunkCollector::extract_smallchunk(std::uint64_t call_count, const BigChunk& bc,
                                                         const nlohmann::json&) {
  if (call_count == 0)  // a new BigChunk: what its loader says
    info_ = std::make_unique<detail::RandomChunkInfo>(detail::RandomChunkInfo::from_json(bc.info));
  const detail::RandomChunkInfo& info = *info_;
  const std::uint64_t reports = bc.damaged.size();
  if (call_count < reports) return damage_report(bc, info, call_count);  // reported before anything can fail
  if (call_count == reports) begin(bc);
  if (o_.max_per_bigchunk() > 0 && call_count - reports >= o_.max_per_bigchunk()) return Extraction::done();
  Rng rng = random_stream(call_count);
  const Annotation* cls = nullptr;
  auto [px, py] = draw(bc, rng);
  // Around the damage, on tissue, inside (or outside) the annotations; a BigChunk with no place
  // found in 64 draws is done, and 16 such BigChunks in a row mean there is nothing to serve.
  for (int attempt = 0; touches_damage(bc, px, py, rw_, rh_) || !served(bc, px, py, &cls); ++attempt) {
    if (attempt == 64) {
      if (bc.number != last_served_bigchunk_ && ++empty_bigchunks_ >= 16) {
        std::string rule;
        if (!info.roi.empty())
          rule += std::string(info.roi_mode == RoiMode::Include ? " inside" : " outside") + " the annotations of " +
                  roi_path_;
        if (o_.min_tissue() > 0)
          rule += (rule.empty() ? "" : " and") + std::string(" with ") + std::to_string(o_.min_tissue()) + " tissue";
        if (rule.empty()) rule = " clear of damaged tiles";
        throw Error(std::to_string(empty_bigchunks_) + " BigChunks in a row held no patch" + rule +
                    ": nothing to serve");
      }
      return Extraction::done();
    }
    std::tie(px, py) = draw(bc, rng);
  }
  last_served_bigchunk_ = bc.number;
  empty_bigchunks_ = 0;
  return cut(bc, px, py, cls);
}

SmallChunk RandomSmallChunkCollector::cut(const BigChunk& bc, int px, int py, const Annotation* cls) const {
  const detail::RandomChunkInfo& info = *info_;
  const PatchShape& p = options().patch_shape();
  // The level pixels the BigChunk was read from, when it was resampled once (else its own size).
  const int read_w = info.resampled_once() ? info.read_width : bc.data.cols,
            read_h = info.resampled_once() ? info.read_height : bc.data.rows;
  const PatchCut::Resample how = info.patch_width > 0 ? PatchCut::Resample::kPatch : PatchCut::Resample::kBigChunk;
  SmallChunk c;
  if (!info.roi.empty() && info.roi_mode == RoiMode::Include) c.info = {{"roi", cls ? cls->cls : ""}};
  c.data = bc.data(cv::Rect(px, py, rw_, rh_));
  if (rw_ != p.width || rh_ != p.height) c.data = resize_to_patch(c.data, cv::Size(p.width, p.height), info.upsample);
  c.cut = {how, read_w, read_h, px, py};
  c.level = bc.region.level;
  // Level-0 position: the BigChunk's corner plus the offset in level pixels (through the
  // resample's ratio, per axis, when there was one), scaled by the level's downsample.
  const double lds = info.resampled_once() ? info.level_downsample : bc.region.downsample;
  const double fx = double(read_w) / bc.data.cols, fy = double(read_h) / bc.data.rows;
  c.x = bc.region.x + std::llround(px * fx * lds);
  c.y = bc.region.y + std::llround(py * fy * lds);
  if (info.mpp > 0) {  // the patch's footprint in level pixels, rounded
    c.mpp = info.mpp;
    c.width = how == PatchCut::Resample::kPatch ? rw_ : int(std::lround(rw_ * fx));
    c.height = how == PatchCut::Resample::kPatch ? rh_ : int(std::lround(rh_ * fy));
  }
  return c;
}

CollectorFactory random_smallchunk_collector(const RandomSmallChunkOptions& o) {
  check_fraction("min_tissue", o.min_tissue());
  return [o] { return std::make_unique<RandomSmallChunkCollector>(o); };
}

}  // namespace pydmed
