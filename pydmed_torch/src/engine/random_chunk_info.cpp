#include "engine/random_chunk_info.hpp"

namespace pydmed::detail {

nlohmann::json RandomChunkInfo::to_json() const {
  nlohmann::json j;
  if (mpp > 0) {
    j["mpp"] = mpp;
    j["upsample"] = upsample;
  }
  if (patch_width > 0) j["patch_width"] = patch_width, j["patch_height"] = patch_height;
  if (resampled_once()) {
    j["resample"] = "bigchunk";
    j["read"] = {read_width, read_height};
    j["level_downsample"] = level_downsample;
  }
  if (on_grid) j["patch_offsets"] = {offsets_x, offsets_y};
  if (record != "wsi") j["record"] = record;
  if (!roi.empty()) {
    j["roi"] = roi;
    j["roi_mode"] = to_string(roi_mode);
    j["min_roi_fraction"] = min_roi_fraction;
  }
  return j;
}

RandomChunkInfo RandomChunkInfo::from_json(const nlohmann::json& j) {
  RandomChunkInfo i;
  if (!j.is_object()) return i;
  i.mpp = j.value("mpp", 0.0);
  i.upsample = j.value("upsample", false);
  i.patch_width = j.value("patch_width", 0);
  i.patch_height = j.value("patch_height", 0);
  if (const auto read = j.find("read"); read != j.end()) {
    i.read_width = read->at(0).get<int>(), i.read_height = read->at(1).get<int>();
    i.level_downsample = j.value("level_downsample", 0.0);
  }
  if (const auto it = j.find("patch_offsets"); it != j.end()) {
    i.on_grid = true;
    i.offsets_x = it->at(0), i.offsets_y = it->at(1);
  }
  i.record = j.value("record", "wsi");
  i.roi = j.value("roi", "");
  i.roi_mode = j.value("roi_mode", "include") == "include" ? RoiMode::Include : RoiMode::Exclude;
  i.min_roi_fraction = j.value("min_roi_fraction", 0.0);
  return i;
}

}  // namespace pydmed::detail
