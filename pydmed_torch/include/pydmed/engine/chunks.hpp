#pragma once
// What flows through the loader: BigChunks (large regions, in a collector's memory) and
// SmallChunks (patches cut from them, delivered to the training loop).
#include <cstdint>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "pydmed/data/dataset.hpp"
#include "pydmed/slide/region.hpp"

namespace pydmed {

struct BigChunk {
  cv::Mat data;  // H x W x C uint8 (RGB for slides)
  RegionInfo region;
  nlohmann::json info = nlohmann::json::object();  // user keys
  const Patient* patient = nullptr;
  std::uint32_t number = 0;  // its place in the visit: 0, 1, ...
};

struct SmallChunk {
  cv::Mat data;  // H x W x C uint8, of Options::patch_shape (a view into the BigChunk is fine)
  std::int64_t x = 0, y = 0;  // level-0 position of its top-left pixel
  int level = 0;
  nlohmann::json info;  // user keys (null: none, the fast path)
};

// What SmallChunkCollector::extract_smallchunk returns: a SmallChunk, "skip this call", or
// "done with this BigChunk".
class Extraction {
 public:
  enum class Kind { Chunk, Skip, Done };
  Extraction(SmallChunk c) : kind_(Kind::Chunk), chunk_(std::move(c)) {}  // NOLINT: implicit on purpose
  static Extraction skip() { return Extraction(Kind::Skip); }
  static Extraction done() { return Extraction(Kind::Done); }
  Kind kind() const { return kind_; }
  SmallChunk& chunk() { return chunk_; }

 private:
  explicit Extraction(Kind k) : kind_(k) {}
  Kind kind_;
  SmallChunk chunk_;
};

}  // namespace pydmed
