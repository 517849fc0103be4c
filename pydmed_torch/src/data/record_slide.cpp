#include "pydmed/data/record_slide.hpp"

#include "pydmed/error.hpp"
#include "pydmed/slide/physical.hpp"

namespace pydmed {

namespace {
std::optional<double> mpp_info(const Record& record, const char* key) {
  const auto it = record.dict_infos.find(key);
  if (it == record.dict_infos.end()) return std::nullopt;
  if (!it->is_number() || !plausible_mpp(it->get<double>())) {
    throw DatasetError(record.path() + ": record info \"" + key + "\" must be microns per pixel from " +
                       mpp_string(kMinMpp) + " to " + mpp_string(kMaxMpp) + ", not " + it->dump());
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
  return Annotations::read(it->get<std::string>());
}

}  // namespace pydmed
