#include "pydmed/data/dataset.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "pydmed/file_identity.hpp"

namespace fs = std::filesystem;

namespace pydmed {

std::string Record::path() const {
  if (rootdir.empty() || fs::path(relativedir).is_absolute() || is_url(relativedir)) return relativedir;
  if (is_url(rootdir)) return rootdir + (rootdir.back() == '/' ? "" : "/") + relativedir;
  return (fs::path(rootdir) / relativedir).string();
}

std::string Patient::slide_path() const {
  const auto wsi = dict_records.find("wsi");
  if (wsi != dict_records.end()) return wsi->second.path();
  return dict_records.empty() ? "" : dict_records.begin()->second.path();
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
  for (Patient& p : list_patients) {
    // `{}` in an aggregate initialiser makes JSON null; keep "nothing" one value: an empty object.
    for (nlohmann::json* j : {&p.labels, &p.infos})
      if (j->is_null()) *j = nlohmann::json::object();
    for (auto& [name, r] : p.dict_records)
      if (r.dict_infos.is_null()) r.dict_infos = nlohmann::json::object();
  }
  check_unique_ids();
}

void Dataset::check_unique_ids() const {
  std::set<std::int64_t> seen;
  for (const Patient& p : list_patients) {
    if (!seen.insert(p.int_uniqueid).second) {
      throw DatasetError("dataset '" + str_dsname + "': duplicate patient id " + std::to_string(p.int_uniqueid));
    }
  }
}

const Patient& Dataset::patient(std::int64_t id) const {
  for (const Patient& p : list_patients)
    if (p.int_uniqueid == id) return p;
  throw DatasetError("dataset '" + str_dsname + "' has no patient " + std::to_string(id));
}

Dataset Dataset::create_onetoone(const std::string& name, const std::string& rootdir, const std::string& suffix,
                                 const FileInfoFn& labels, const FileInfoFn& wsi_infos) {
  auto ends_with_suffix = [&suffix](const std::string& f) {
    return f.size() >= suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return create_onetoone(name, rootdir, ends_with_suffix, labels, wsi_infos);
}

namespace {

// Collects accepted regular files under `dir`, one folder at a time, so that an entry that
// cannot be read costs only itself (and is named), never the rest of the scan.
void scan_folder(const fs::path& dir, const fs::path& root, const std::function<bool(const std::string&)>& accept,
                 std::vector<std::string>& files, std::vector<std::string>* skipped) {
  auto skip = [&](const fs::path& p, const std::error_code& e) {
    if (!skipped) throw DatasetError(p.string(), 0, "cannot read: " + e.message());
    skipped->push_back(p.string() + ": " + e.message());
  };
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return skip(dir, ec);
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path p = it->path();
    std::error_code e;
    const fs::file_status link = fs::symlink_status(p, e);
    const fs::file_status st = fs::status(p, e);  // follows links: a loop or a dangling one fails here
    if (e) {
      if (accept(p.filename().string())) skip(p, e);
      continue;
    }
    if (fs::is_directory(st)) {
      if (!fs::is_symlink(link)) scan_folder(p, root, accept, files, skipped);
    } else if (fs::is_regular_file(st) && accept(p.filename().string())) {
      files.push_back(p.lexically_relative(root).string());  // as listed: links not resolved
    }
  }
  if (ec) skip(dir, ec);
}

}  // namespace

Dataset Dataset::create_onetoone(const std::string& name, const std::string& rootdir,
                                 const std::function<bool(const std::string& filename)>& accept,
                                 const FileInfoFn& labels, const FileInfoFn& wsi_infos,
                                 std::vector<std::string>* skipped) {
  std::error_code ec;
  if (!fs::is_directory(rootdir, ec)) throw DatasetError(rootdir, 0, "not a directory");
  std::vector<std::string> files;
  scan_folder(rootdir, rootdir, accept, files, skipped);
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

nlohmann::json Dataset::records_by_id() const {
  nlohmann::json out = nlohmann::json::object();
  for (const Patient& p : list_patients) {
    nlohmann::json records = nlohmann::json::object();
    for (const auto& [name, record] : p.dict_records) records[name] = redact_url(record.path());
    out[std::to_string(p.int_uniqueid)] = std::move(records);
  }
  return out;
}

nlohmann::json Dataset::slide_stamps() const {
  nlohmann::json out = nlohmann::json::object();
  for (const Patient& p : list_patients)
    for (const auto& [name, record] : p.dict_records) out[redact_url(record.path())] = content_stamp(record.path());
  return out;
}

}  // namespace pydmed
