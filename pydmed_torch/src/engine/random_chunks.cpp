#include "pydmed/engine/random_chunks.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

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
  const PatchShape& p = options().patch_shape();
  // A BigChunk smaller than a patch would serve one patch over and over, or padding.
  if (o_.width() < p.width || o_.height() < p.height) {
    throw Error("BigChunk of " + std::to_string(o_.width()) + " x " + std::to_string(o_.height()) +
                " pixels is smaller than the " + std::to_string(p.width) + " x " + std::to_string(p.height) + " patch");
  }
  // The level read, and the pixels of it that a patch and the BigChunk take.
  int level = o_.level();
  std::int64_t pw = p.width, ph = p.height, bw = o_.width(), bh = o_.height();
  std::string needs = "the " + std::to_string(p.width) + " x " + std::to_string(p.height) + " patch";
  nlohmann::json physical;
  if (o_.mpp() > 0) {
    const PhysicalRegion patch = slide.physical_region(o_.mpp(), p.width, p.height, o_.upsample());
    const PhysicalRegion big = slide.physical_region(o_.mpp(), o_.width(), o_.height(), o_.upsample());
    level = patch.level, pw = patch.width, ph = patch.height, bw = big.width, bh = big.height;
    const auto cap = std::int64_t(options().max_bigchunk_bytes() / 3);
    while (bw * bh > cap && (bw > pw || bh > ph)) bw = std::max(pw, bw * 9 / 10), bh = std::max(ph, bh * 9 / 10);
    needs = std::to_string(pw) + " x " + std::to_string(ph) + " pixels, what a " + std::to_string(p.width) + " x " +
            std::to_string(p.height) + " patch at " + std::to_string(o_.mpp()) + " um/px takes";
    physical = {{"mpp", o_.mpp()}, {"patch_width", pw}, {"patch_height", ph}, {"upsample", patch.upsample}};
  }
  const LevelInfo& L = slide.level(level);
  if (L.width < pw || L.height < ph) {
    throw SlideError(slide.path(), "level " + std::to_string(level) + " is " + std::to_string(L.width) + " x " +
                                       std::to_string(L.height) + " pixels, smaller than " + needs);
  }
  const int w = int(std::min<std::int64_t>(bw, L.width));
  const int h = int(std::min<std::int64_t>(bh, L.height));
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
  bc.region = {std::llround(lx * L.downsample), std::llround(ly * L.downsample), level, w, h, L.downsample};
  bc.data = allocate(h, w, 3);
  // A damaged tile costs its own pixels, not the BigChunk: the collector draws around it.
  bc.damaged = slide.read_region_salvage(bc.data.data, bc.region.x, bc.region.y, level, w, h);
  if (!physical.is_null()) bc.info = std::move(physical);  // how the collector cuts and resizes
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
  // The region of the BigChunk a patch takes: the patch's own size, or at a physical
  // resolution what the loader says (RandomBigChunkOptions::mpp).
  int rw = p.width, rh = p.height;
  double mpp = 0;
  bool upsample = false;
  if (const auto it = bc.info.find("mpp"); it != bc.info.end()) {
    mpp = it->get<double>();
    rw = bc.info.at("patch_width").get<int>(), rh = bc.info.at("patch_height").get<int>();
    upsample = bc.info.value("upsample", false);
  }
  if (bc.data.cols < rw || bc.data.rows < rh || bc.data.channels() != p.channels) {
    throw Error("BigChunk " + std::to_string(bc.data.cols) + " x " + std::to_string(bc.data.rows) + " is smaller than a patch's " +
                std::to_string(rw) + " x " + std::to_string(rh) + " pixels");
  }
  Rng rng = random_stream(call_count);
  int px = int(rng.between(0, bc.data.cols - rw));
  int py = int(rng.between(0, bc.data.rows - rh));
  // Around the damage; a BigChunk with no clean place found in 32 draws is done.
  for (int attempt = 0; touches_damage(bc, px, py, rw, rh); ++attempt) {
    if (attempt == 32) return Extraction::done();
    px = int(rng.between(0, bc.data.cols - rw));
    py = int(rng.between(0, bc.data.rows - rh));
  }
  SmallChunk c;
  c.data = bc.data(cv::Rect(px, py, rw, rh));
  if (rw != p.width || rh != p.height) {
    cv::Mat resized;
    cv::resize(c.data, resized, cv::Size(p.width, p.height), 0, 0, upsample ? cv::INTER_LINEAR : cv::INTER_AREA);
    c.data = resized;
  }
  if (mpp > 0) c.width = rw, c.height = rh, c.mpp = mpp;
  c.level = bc.region.level;
  // Level-0 position: the BigChunk's corner plus the offset, scaled by the level's downsample.
  const double lx = double(bc.region.x) / bc.region.downsample + px;
  const double ly = double(bc.region.y) / bc.region.downsample + py;
  c.x = std::llround(lx * bc.region.downsample);
  c.y = std::llround(ly * bc.region.downsample);
  return c;
}

}  // namespace pydmed
