#include "pydmed/data/record_slide.hpp"

#include "pydmed/error.hpp"

namespace pydmed {

Slide open_record_slide(const Record& record) {
  Slide slide(record.path());
  const auto it = record.dict_infos.find("mpp");
  if (it != record.dict_infos.end()) {
    if (!it->is_number() || !(it->get<double>() > 0)) {
      throw DatasetError(record.path() + ": record info \"mpp\" must be a positive number of microns per pixel, not " + it->dump());
    }
    slide.set_mpp(it->get<double>(), it->get<double>());
  }
  return slide;
}

}  // namespace pydmed
