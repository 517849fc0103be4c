#include "engine/loader_setup.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed::detail {

// What the loaders' open slides may hold at once: every record of a patient open in each of
// the `collectors` loaders, taking the patients that hold the most.
std::size_t slide_bytes(const Dataset& ds, int collectors) {
  std::vector<std::size_t> per_patient;
  for (const Patient& p : ds.list_patients) {
    std::size_t sum = 0;
    for (const auto& [name, record] : p.dict_records) sum += Slide::resident_bytes_estimate(record.path());
    per_patient.push_back(sum);
  }
  std::sort(per_patient.begin(), per_patient.end(), std::greater<>());
  per_patient.resize(std::min(per_patient.size(), std::size_t(collectors)));
  std::size_t total = 0;
  for (std::size_t b : per_patient) total += b;
  return total;
}

// This rank's share of the dataset; refuses an empty one.
Dataset share(Dataset dataset, const Options& o) {
  // A loader with nothing to serve would only wait: say so at once.
  if (dataset.size() == 0) throw DatasetError("no patients in dataset '" + dataset.str_dsname + "'");
  dataset.check_unique_ids();  // list_patients may have been edited since the dataset was made
  if (o.world_size() <= 1) return dataset;
  const std::size_t all = dataset.size();
  Dataset mine = dataset.shard(o.rank(), o.world_size(), dataset.common_label());
  if (mine.size() == 0) {
    throw DatasetError("rank " + std::to_string(o.rank()) + " of " + std::to_string(o.world_size()) +
                       " has no patients: dataset '" + mine.str_dsname + "' has " + std::to_string(all) +
                       ", fewer than the ranks");
  }
  return mine;
}

const Options& validated(const Options& o, bool have_factories) {
  if (!have_factories) throw Error("LightDLCore needs a loader and a collector factory");
  o.validate();
  return o;
}

FileDescriptor open_log(const Options& o) {
  if (o.log_file().empty()) return FileDescriptor();
  const int fd = ::open(o.log_file().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw OptionsError("log_file", o.log_file() + ": " + std::strerror(errno));
  return FileDescriptor(fd);
}

FileDescriptor open_eventfd() {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw Error(std::string("eventfd failed: ") + std::strerror(errno));
  return FileDescriptor(fd);
}
}  // namespace pydmed::detail
