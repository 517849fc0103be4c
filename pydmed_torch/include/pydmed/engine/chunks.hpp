#pragma once
// What flows through the loader: BigChunks (large regions, in a collector's memory) and
// SmallChunks (patches cut from them, delivered to the training loop).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/patch_cut.hpp"
#include "pydmed/slide/region.hpp"

namespace pydmed {

struct BigChunk {
  cv::Mat data;  // H x W x C uint8 (RGB for slides)
  RegionInfo region;
  // Pieces the slide could not decode (Slide::read_region_salvage), in pixels of `data`; they
  // hold the background colour. Collectors serve nothing that touches them.
  std::vector<DamagedPiece> damaged;
  nlohmann::json info = nlohmann::json::object();  // user keys
  const Patient* patient = nullptr;
  std::uint32_t number = 0;  // its place in the visit: 0, 1, ...
};

struct SmallChunk {
  cv::Mat data;               // H x W x C uint8, of Options::patch_shape (a view into the BigChunk is fine)
  std::int64_t x = 0, y = 0;  // level-0 position of its top-left pixel
  int level = 0;
  // The region of `level` it was made from, when resampled (a physical resolution): its size
  // in that level's pixels and the microns per pixel of `data`. 0: data is the level's pixels.
  int width = 0, height = 0;
  double mpp = 0;
  nlohmann::json info;  // user keys (null: none, the fast path)
  PatchCut cut;
};

// A region a collector could not serve (a window over a damaged tile): reported to the root
// (LightDLCore::skipped()) in order with the SmallChunks, never delivered as one.
struct SkippedRegion {
  std::int64_t x = 0, y = 0;  // level-0 position of its top-left pixel
  int level = 0;
  int width = 0, height = 0;  // pixels of the level
  std::string reason;
};

// What SmallChunkCollector::extract_smallchunk returns: a SmallChunk, "skip this call" (and
// maybe report the region skipped), or "done with this BigChunk".
class Extraction {
 public:
  enum class Kind { Chunk, Skip, Done };
  Extraction(SmallChunk c) : kind_(Kind::Chunk), chunk_(std::move(c)) {}  // NOLINT: implicit on purpose
  static Extraction skip() { return Extraction(Kind::Skip); }
  static Extraction skip(SkippedRegion report) {
    Extraction e(Kind::Skip);
    e.report_ = std::move(report);
    return e;
  }
  static Extraction done() { return Extraction(Kind::Done); }
  Kind kind() const { return kind_; }
  SmallChunk& chunk() { return chunk_; }
  const std::optional<SkippedRegion>& report() const { return report_; }

 private:
  explicit Extraction(Kind k) : kind_(k) {}
  Kind kind_;
  SmallChunk chunk_;
  std::optional<SkippedRegion> report_;
};

// True when the rectangle (x, y, width, height), in pixels of the BigChunk, touches one of its
// damaged pieces; `why` gets that piece's reason.
bool touches_damage(const BigChunk& bc, int x, int y, int width, int height, std::string* why = nullptr);

}  // namespace pydmed
