#include "pydmed/engine/random_chunks.hpp"

#include <algorithm>
#include <cmath>

#include "pydmed/data/record_slide.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"

namespace pydmed {

RandomBigChunkLoader::RandomBigChunkLoader(RandomBigChunkOptions o) : o_(std::move(o)) {}
RandomBigChunkLoader::~RandomBigChunkLoader() = default;

std::optional<BigChunk> RandomBigChunkLoader::extract_bigchunk(const nlohmann::json&) {
  if (!slide_) slide_ = std::make_unique<Slide>(open_record_slide(patient().record(o_.record())));
  Slide& slide = *slide_;
  const LevelInfo& L = slide.level(o_.level());
  const PatchShape& p = options().patch_shape();
  // A BigChunk smaller than a patch would serve one patch over and over, or padding.
  if (o_.width() < p.width || o_.height() < p.height) {
    throw Error("BigChunk of " + std::to_string(o_.width()) + " x " + std::to_string(o_.height()) +
                " pixels is smaller than the " + std::to_string(p.width) + " x " + std::to_string(p.height) + " patch");
  }
  if (L.width < p.width || L.height < p.height) {
    throw SlideError(slide.path(), "level " + std::to_string(o_.level()) + " is " + std::to_string(L.width) + " x " +
                                       std::to_string(L.height) + " pixels, smaller than the " + std::to_string(p.width) +
                                       " x " + std::to_string(p.height) + " patch");
  }
  const int w = int(std::min<std::int64_t>(o_.width(), L.width));
  const int h = int(std::min<std::int64_t>(o_.height(), L.height));
  Rng rng = random_stream();
  // Positions in pixels of the level, so level-0 positions are whole multiples of the downsample.
  auto draw = [&] {
    return std::pair<std::int64_t, std::int64_t>(rng.between(0, std::max<std::int64_t>(0, L.width - w)),
                                                 rng.between(0, std::max<std::int64_t>(0, L.height - h)));
  };
  auto [lx, ly] = draw();
  if (o_.min_tissue() > 0) {
    if (!mask_) mask_ = std::make_unique<TissueMask>(slide, TissueMaskOptions().thumbnail_size(512));
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
  bc.region = {std::llround(lx * L.downsample), std::llround(ly * L.downsample), o_.level(), w, h, L.downsample};
  bc.data = allocate(h, w, 3);
  // A damaged tile costs its own pixels, not the BigChunk: the collector draws around it.
  bc.damaged = slide.read_region_salvage(bc.data.data, bc.region.x, bc.region.y, o_.level(), w, h);
  return bc;
}

Extraction RandomSmallChunkCollector::extract_smallchunk(std::uint64_t call_count, const BigChunk& bc,
                                                         const nlohmann::json&) {
  // Damaged tiles: the first calls report each once, then patches are drawn around them.
  const std::uint64_t reports = bc.damaged.size();
  if (call_count < reports) {
    const DamagedPiece& d = bc.damaged[call_count];
    const double ds = bc.region.downsample;
    return Extraction::skip({bc.region.x + std::llround(d.x * ds), bc.region.y + std::llround(d.y * ds), bc.region.level,
                             d.width, d.height, "damaged tile skipped: " + d.reason});
  }
  if (o_.max_per_bigchunk() > 0 && call_count - reports >= o_.max_per_bigchunk()) return Extraction::done();
  const PatchShape& p = options().patch_shape();
  if (bc.data.cols < p.width || bc.data.rows < p.height || bc.data.channels() != p.channels) {
    throw Error("BigChunk " + std::to_string(bc.data.cols) + " x " + std::to_string(bc.data.rows) +
                " is smaller than the patch shape");
  }
  Rng rng = random_stream(call_count);
  int px = int(rng.between(0, bc.data.cols - p.width));
  int py = int(rng.between(0, bc.data.rows - p.height));
  // Around the damage; a BigChunk with no clean place found in 32 draws is done.
  for (int attempt = 0; touches_damage(bc, px, py, p.width, p.height); ++attempt) {
    if (attempt == 32) return Extraction::done();
    px = int(rng.between(0, bc.data.cols - p.width));
    py = int(rng.between(0, bc.data.rows - p.height));
  }
  SmallChunk c;
  c.data = bc.data(cv::Rect(px, py, p.width, p.height));
  c.level = bc.region.level;
  // Level-0 position: the BigChunk's corner plus the offset, scaled by the level's downsample.
  const double lx = double(bc.region.x) / bc.region.downsample + px;
  const double ly = double(bc.region.y) / bc.region.downsample + py;
  c.x = std::llround(lx * bc.region.downsample);
  c.y = std::llround(ly * bc.region.downsample);
  return c;
}

}  // namespace pydmed
