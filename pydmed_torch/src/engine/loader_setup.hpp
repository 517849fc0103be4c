#pragma once
// Private: what LightDLCore checks and opens before anything starts (its constructor's steps).
#include <cstddef>

#include "file_descriptor.hpp"
#include "pydmed/data/dataset.hpp"
#include "pydmed/engine/options.hpp"

namespace pydmed::detail {

// The options, checked (OptionsError); Error without both factories.
const Options& validated(const Options& o, bool have_factories);
// This rank's share of the dataset; refuses an empty one and one whose ids repeat (DatasetError).
Dataset share(Dataset dataset, const Options& o);
// What the loaders' open slides may hold at once: every record of a patient open in each of
// the `collectors` loaders, taking the patients that hold the most.
std::size_t slide_bytes(const Dataset& ds, int collectors);
FileDescriptor open_log(const Options& o);  // Options::log_file, appended to (none: "")
FileDescriptor open_eventfd();              // wakes the scheduler thread's poll

}  // namespace pydmed::detail
