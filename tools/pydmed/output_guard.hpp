#pragma once
// Before a command writes anything: no output may be one of its inputs (a slide, a manifest,
// an annotation file) or another of its outputs. Compared by file identity, so "./x.tiff" and a
// symbolic link to x.tiff count as x.tiff.
#include <string>
#include <utility>
#include <vector>

#include "pydmed/data/dataset.hpp"

namespace pydmed::cli {

// What a run reads: the source itself when it is a file (a manifest, a slide), every record's
// file and every annotation file of `ds`.
std::vector<std::string> run_inputs(const std::string& source, const Dataset& ds);

// `outputs`: {flag, path}, "" paths ignored. Throws UsageError naming the flag and the file
// when an output is an input, or when two outputs are the same file.
void refuse_outputs_over_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                                const std::vector<std::string>& inputs);

}  // namespace pydmed::cli
