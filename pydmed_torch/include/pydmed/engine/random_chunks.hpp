#pragma once
// Ready-made user code: random BigChunks (inside tissue when asked) and random patches, so a
// user can train without writing a subclass.
#include <cstdint>
#include <memory>
#include <string>

#include "pydmed/arg.hpp"
#include "pydmed/engine/user_code.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"

namespace pydmed {

namespace detail {
struct RandomChunkInfo;  // what the loader tells the collector (src/engine/random_chunk_info.hpp)
}

// At a physical resolution between levels, how patches are made from the level read.
// BigChunk: each BigChunk is resampled once (INTER_AREA, OpenCV's bit for bit) and patches are
// cut from it, as fast as at a native level; a patch is the crop of the resampled BigChunk
// (PatchCut says where). Patch: each patch is its own level region resized alone, independent
// of its BigChunk (read_region_at_mpp of the patch), at the cost of a resize per patch.
enum class ResampleMode { BigChunk, Patch };
ResampleMode parse_resample_mode(const std::string& text);  // "bigchunk" / "patch"; OptionsError otherwise

struct RandomBigChunkOptions {
  RandomBigChunkOptions() {}
  PYDMED_ARG(std::string, record) = "wsi";  // which of the patient's records to read
  PYDMED_ARG(int, level) = 0;
  // Pixels read at the level (at a native level and at an mpp alike: the BigChunk's decode and
  // memory budget), clamped to the level's size. A BigChunk, or a level, smaller than the patch
  // is an error of the patient's (it would serve one patch over and over, or padding).
  PYDMED_ARG(int, width) = 2048;
  PYDMED_ARG(int, height) = 2048;
  // > 0: pick among positions whose tissue fraction (TissueMask) is at least this.
  PYDMED_ARG(double, min_tissue) = 0.0;
  // > 0: read at this many microns per pixel (Slide::physical_region): `level` is ignored (the
  // coarsest level at least as fine as the target), the patch shape is pixels at this mpp, and
  // `resample` says how patches are made from the level read.
  PYDMED_ARG(double, mpp) = 0.0;
  // With mpp: resample each BigChunk once (the default), or each patch alone. In BigChunk mode
  // the read is sized to whole target pixels: the target size is floor(width x s) (s: target
  // pixels per level pixel), and the read round(target / s) level pixels, per axis.
  PYDMED_ARG(ResampleMode, resample) = ResampleMode::BigChunk;
  // With mpp finer than the slide's level 0: upsample (INTER_LINEAR) instead of failing.
  PYDMED_ARG(bool, upsample) = false;
  // For a record with annotations (record_annotations: a manifest's roi:RECORD column, or
  // <slide>.geojson beside a slide). Include: only patches whose centre lies inside a polygon
  // (and in none of its holes), from BigChunks placed over the polygons; each patch's info
  // "roi" is the class of the polygon. Exclude: only patches whose centre lies outside.
  PYDMED_ARG(RoiMode, roi) = RoiMode::Include;
  // > 0: instead of the centre, at least this fraction of the patch's area must lie on the
  // served side (inside for Include, outside for Exclude).
  PYDMED_ARG(double, min_roi_fraction) = 0.0;
  // Start BigChunks on the reader's tile grid (openslide.level[N].tile-width/-height), so a
  // read decodes no tile it uses only part of at its left and top (about a fifth of the tiles
  // of a 2048 BigChunk over 256 tiles). Patches are then drawn from a whole number of tiles'
  // worth of offsets, so every pixel of the slide's interior stays equally likely. The last
  // position (flush with the right or bottom edge) is also drawn, its patches anywhere in it,
  // so the edges are reached, with a density that differs there (as with any random
  // BigChunks). Not with Include annotations, whose BigChunks are placed over the polygons.
  PYDMED_ARG(bool, align_to_tiles) = true;

 public:
  // What Options::max_bigchunk_bytes must hold for these BigChunks: width x height RGB (a
  // resampled BigChunk is smaller when the target is coarser), and 4x that when upsampling (the
  // loader shrinks a BigChunk that would be larger).
  std::size_t bigchunk_bytes() const {
    return std::size_t(width()) * std::size_t(height()) * 3 * (mpp() > 0 && upsample() ? 4 : 1);
  }
  // What Options::loader_scratch_bytes must hold: the read before the resample (BigChunk mode).
  std::size_t scratch_bytes() const {
    return mpp() > 0 && resample() == ResampleMode::BigChunk ? std::size_t(width()) * std::size_t(height()) * 3 : 0;
  }
};

class RandomBigChunkLoader : public BigChunkLoader {
 public:
  explicit RandomBigChunkLoader(RandomBigChunkOptions o = {});
  ~RandomBigChunkLoader() override;
  std::optional<BigChunk> extract_bigchunk(const nlohmann::json& last_message) override;

 private:
  // A random BigChunk position of w x h pixels of `level` (in its pixels): inside the
  // annotations, or on the tile grid (gx, gy; 0: anywhere along that axis).
  std::pair<std::int64_t, std::int64_t> position(Rng& rng, int level, int w, int h, std::int64_t gx,
                                                 std::int64_t gy) const;
  // Where the BigChunk drawn from `rng` lies: position(), then the most tissue of 64 draws when
  // min_tissue asks. The same stream gives the same place.
  std::pair<std::int64_t, std::int64_t> choose(Rng rng, int level, int w, int h, std::int64_t gx, std::int64_t gy);

  RandomBigChunkOptions o_;
  // Opened once a visit (a loader lives for one visit): the slide and, if asked, its tissue.
  std::unique_ptr<Slide> slide_;
  std::unique_ptr<TissueMask> mask_;
  std::unique_ptr<Annotations> roi_;
  std::string roi_path_;  // its file, for messages and for the collector
  cv::Mat scratch_;       // the level read before it is resampled (ResampleMode::BigChunk)
};

struct RandomSmallChunkOptions {
  RandomSmallChunkOptions() {}
  // After this many SmallChunks the collector moves on to a new BigChunk; 0: never.
  PYDMED_ARG(std::uint64_t, max_per_bigchunk) = 0;
  // > 0: only patches at least this much tissue (the TissueMask RandomBigChunkOptions::min_tissue
  // uses, computed once a visit in the collector), not only BigChunks.
  PYDMED_ARG(double, min_tissue) = 0.0;
};

// Uniformly random patches of Options::patch_shape, positions drawn from
// random_stream(call_count), so a seed fixes them whatever the timing; inside or outside the
// record's annotations as the BigChunk's loader says (RandomBigChunkOptions::roi).
class RandomSmallChunkCollector : public SmallChunkCollector {
 public:
  explicit RandomSmallChunkCollector(RandomSmallChunkOptions o = {});
  ~RandomSmallChunkCollector() override;
  Extraction extract_smallchunk(std::uint64_t call_count, const BigChunk& bigchunk,
                                const nlohmann::json& last_message) override;

 private:
  void begin(const BigChunk& bc);  // a BigChunk's first patch: its size checked, annotations and tissue ready
  bool served(const BigChunk& bc, int px, int py, const Annotation** cls) const;
  std::pair<int, int> draw(const BigChunk& bc, Rng& rng) const;
  SmallChunk cut(const BigChunk& bc, int px, int py, const Annotation* cls) const;

  RandomSmallChunkOptions o_;
  std::unique_ptr<detail::RandomChunkInfo> info_;  // the BigChunk's, from its loader
  int rw_ = 0, rh_ = 0;                            // the region of the BigChunk a patch takes
  std::string roi_path_;                           // the annotations read for this visit's BigChunks
  Annotations roi_;
  std::unique_ptr<TissueMask> tissue_;  // for min_tissue, once a visit
  // BigChunks in a row that served nothing (an unmeetable rule must fail, not spin).
  int empty_bigchunks_ = 0;
  std::uint32_t last_served_bigchunk_ = UINT32_MAX;
};

}  // namespace pydmed
