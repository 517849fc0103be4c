#include "preflight.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "output_guard.hpp"
#include "pydmed/data/record_slide.hpp"
#include "pydmed/data/source.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"

namespace pydmed::cli {

namespace {
// Why the patient cannot be served, or "".
std::string unusable(const Patient& p, RoiMode mode) {
  for (const auto& [name, record] : p.dict_records) {
    const std::string path = record.path();
    if (is_url(path)) {
      try {
        if (path.back() != '/') check_remote(path);
      } catch (const SlideError& e) {
        return e.what();
      }
    } else {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return path + ": " + std::strerror(errno);
      ::close(fd);
    }
    try {
      (void)record_roi(record, mode);
    } catch (const Error& e) {
      return e.what();
    }
  }
  return "";
}
}  // namespace

void leave_out_unusable(Dataset& ds, RoiMode mode, std::vector<std::string>* skipped) {
  std::vector<Patient> kept;
  std::string first;
  for (Patient& p : ds.list_patients) {
    const std::string why = unusable(p, mode);
    if (why.empty()) {
      kept.push_back(std::move(p));
      continue;
    }
    if (first.empty()) first = why;
    skipped->push_back("patient " + std::to_string(p.int_uniqueid) + ": " + why);
  }
  if (kept.empty()) {
    throw DatasetError(first + (skipped->size() > 1 ? " (and " + std::to_string(skipped->size() - 1) + " more)" : ""));
  }
  ds.list_patients = std::move(kept);
}

Dataset command_dataset(const std::string& source, const PhysicalFlags& physical, RoiMode mode,
                        const std::vector<std::pair<std::string, std::string>>& outputs,
                        std::vector<std::string>* skipped) {
  Dataset ds = dataset_from_source(source, skipped);
  physical.apply_default(ds);
  refuse_outputs_over_inputs(outputs, run_inputs(source, ds));
  leave_out_unusable(ds, mode, skipped);
  for (const auto& s : *skipped) std::cerr << "skipped: " << s << '\n';
  return ds;
}

}  // namespace pydmed::cli
