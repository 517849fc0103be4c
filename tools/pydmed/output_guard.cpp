#include "output_guard.hpp"

#include <filesystem>

#include "commands.hpp"
#include "pydmed/file_identity.hpp"

namespace pydmed::cli {

std::vector<std::string> run_inputs(const std::string& source, const Dataset& ds) {
  std::vector<std::string> in;
  std::error_code ec;
  if (!std::filesystem::is_directory(source, ec)) in.push_back(source);
  for (const Patient& p : ds.list_patients) {
    for (const auto& [name, r] : p.dict_records) {
      in.push_back(r.path());
      if (const auto roi = r.dict_infos.find("roi"); roi != r.dict_infos.end() && roi->is_string())
        in.push_back(roi->get<std::string>());
    }
  }
  return in;
}

void refuse_outputs_over_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                                const std::vector<std::string>& inputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const auto& [flag, path] = outputs[i];
    if (path.empty() || path == "-") continue;
    if (const std::string in = input_named_by(path, inputs); !in.empty()) {
      throw UsageError(flag + " " + path + ": is an input of this run (" + in +
                       "); writing it would destroy it: choose another file");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (!outputs[j].second.empty() && same_file(path, outputs[j].second)) {
        throw UsageError(flag + " " + path + ": is the same file as " + outputs[j].first + " " + outputs[j].second);
      }
    }
  }
}

}  // namespace pydmed::cli
