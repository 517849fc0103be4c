#pragma once
// PyDmed's visualize(): where a loader's SmallChunks came from, drawn over a thumbnail.
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pydmed/engine/light_dl_core.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

// Keeps the records of the SmallChunks a loader served, per patient (add each batch's records).
class CoverageRecorder {
 public:
  void add(const std::vector<ChunkRecord>& records);
  const std::vector<ChunkRecord>& of(std::int64_t patient) const;
  std::vector<std::int64_t> patients() const;

  // The thumbnail (longest side `size`) with each SmallChunk's footprint outlined, BGR, and the
  // annotations' outlines when given.
  cv::Mat picture(std::int64_t patient, const Slide& slide, int size = 1024, const Annotations* roi = nullptr) const;
  // One PNG per patient: dir/coverage_<id>.png, from the patient's record (with its annotations).
  void save_pngs(const std::string& dir, const Dataset& dataset, const std::string& record = "wsi",
                 int size = 1024) const;

 private:
  std::map<std::int64_t, std::vector<ChunkRecord>> records_;
};

}  // namespace pydmed
