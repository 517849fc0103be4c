#include "pydmed/data/record_slide.hpp"

#include "pydmed/error.hpp"
#include "pydmed/slide/physical.hpp"

namespace pydmed {

namespace {
std::optional<double> mpp_info(const Record& record, const char* key) {
  const auto it = record.dict_infos.find(key);
  if (it == record.dict_infos.end()) return std::nullopt;
  if (!it->is_number() || !plausible_mpp(it->get<double>())) {
    throw DatasetError(record.path() + ": record info \"" + key + "\" must be " + plausible_mpp_text() + ", not " +
                       it->dump());
  }
  return it->get<double>();
}
}  // namespace

Slide open_record_slide(const Record& record) {
  Slide slide(record.path());
  const auto given = mpp_info(record, "mpp");
  const auto fallback = mpp_info(record, "mpp_default");
  if (given)
    slide.set_mpp(*given, *given);
  else if (fallback && !slide.mpp_x())
    slide.set_mpp(*fallback, *fallback);
  return slide;
}

Annotations record_annotations(const Record& record) {
  const auto it = record.dict_infos.find("roi");
  if (it == record.dict_infos.end()) return {};
  if (!it->is_string())
    throw DatasetError(record.path() + ": record info \"roi\" must be the path of a GeoJSON file, not " + it->dump());
  try {
    return Annotations::read(it->get<std::string>());
  } catch (const Error& e) {
    throw InputError(e.what());  // a file that is wrong stays wrong: no retry
  }
}

Annotations record_roi(const Record& record, RoiMode mode, const Slide* slide) {
  Annotations roi = record_annotations(record);
  if (mode != RoiMode::Include || !record.dict_infos.contains("roi")) return roi;
  const std::string path = record.dict_infos["roi"].get<std::string>();
  if (roi.empty()) {
    throw InputError(
        path + ": no polygon to serve patches from (" +
        (roi.skipped() > 0 ? std::to_string(roi.skipped()) + " points or lines only" : std::string("no features")) +
        "); give polygons, or remove the file to serve the whole slide");
  }
  if (slide) {
    const LevelInfo& l0 = slide->levels()[0];
    if ((roi.bounds() & cv::Rect2d(0, 0, double(l0.width), double(l0.height))).area() <= 0) {
      throw InputError(path + ": the annotations lie outside the slide's " + std::to_string(l0.width) + " x " +
                       std::to_string(l0.height) + " pixels");
    }
  }
  return roi;
}

}  // namespace pydmed
