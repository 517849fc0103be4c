#include "pydmed/data/dataset.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "pydmed/error.hpp"

namespace fs = std::filesystem;

namespace pydmed {

std::string Record::path() const {
  if (rootdir.empty() || fs::path(relativedir).is_absolute()) return relativedir;
  return (fs::path(rootdir) / relativedir).string();
}

const Record& Patient::record(const std::string& name) const {
  auto it = dict_records.find(name);
  if (it == dict_records.end()) {
    throw DatasetError("patient " + std::to_string(int_uniqueid) + " has no record '" + name + "'");
  }
  return it->second;
}

Dataset::Dataset(std::string name, std::vector<Patient> patients)
    : str_dsname(std::move(name)), list_patients(std::move(patients)) {
  std::set<std::int64_t> seen;
  for (Patient& p : list_patients) {
    // `{}` in an aggregate initialiser makes JSON null; keep "nothing" one value: an empty object.
    for (nlohmann::json* j : {&p.labels, &p.infos}) if (j->is_null()) *j = nlohmann::json::object();
    for (auto& [name, r] : p.dict_records) if (r.dict_infos.is_null()) r.dict_infos = nlohmann::json::object();
    if (!seen.insert(p.int_uniqueid).second) {
      throw DatasetError("dataset '" + str_dsname + "': duplicate patient id " +
                         std::to_string(p.int_uniqueid));
    }
  }
}

const Patient& Dataset::patient(std::int64_t id) const {
  for (const Patient& p : list_patients)
    if (p.int_uniqueid == id) return p;
  throw DatasetError("dataset '" + str_dsname + "' has no patient " + std::to_string(id));
}

Dataset Dataset::create_onetoone(const std::string& name, const std::string& rootdir,
                                 const std::string& suffix, const FileInfoFn& labels,
                                 const FileInfoFn& wsi_infos) {
  auto ends_with_suffix = [&suffix](const std::string& f) {
    return f.size() >= suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return create_onetoone(name, rootdir, ends_with_suffix, labels, wsi_infos);
}

Dataset Dataset::create_onetoone(const std::string& name, const std::string& rootdir,
                                 const std::function<bool(const std::string& filename)>& accept,
                                 const FileInfoFn& labels, const FileInfoFn& wsi_infos) {
  std::error_code ec;
  if (!fs::is_directory(rootdir, ec)) throw DatasetError(rootdir, 0, "not a directory");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(rootdir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && accept(it->path().filename().string())) {
      files.push_back(fs::relative(it->path(), rootdir).string());
    }
  }
  if (ec) throw DatasetError(rootdir, 0, "cannot scan: " + ec.message());
  std::sort(files.begin(), files.end());  // the same ids on every machine
  std::vector<Patient> patients;
  for (std::size_t i = 0; i < files.size(); ++i) {
    Patient p;
    p.int_uniqueid = static_cast<std::int64_t>(i);
    Record r{rootdir, files[i], wsi_infos ? wsi_infos(files[i]) : nlohmann::json::object()};
    p.dict_records.emplace("wsi", std::move(r));
    if (labels) p.labels = labels(files[i]);
    patients.push_back(std::move(p));
  }
  return Dataset(name, std::move(patients));
}

}  // namespace pydmed
