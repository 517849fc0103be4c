#pragma once
// PyDmed's data model: a Dataset is a named list of Patients; a Patient has an integer id,
// named Records (e.g. "wsi" -> a slide file) and labels.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pydmed {

struct Record {
  std::string rootdir;      // e.g. "/data/cohort1"
  std::string relativedir;  // e.g. "slides/1010.svs"; may be absolute, then rootdir is ignored
  nlohmann::json dict_infos = nlohmann::json::object();  // e.g. {"magnification": "40x"}
  std::string path() const;                              // rootdir joined with relativedir
};

struct Patient {
  std::int64_t int_uniqueid = 0;
  std::map<std::string, Record> dict_records;        // record name -> record
  nlohmann::json labels = nlohmann::json::object();  // label name -> value
  nlohmann::json infos = nlohmann::json::object();   // anything else (e.g. original id of a copy)

  const Record& record(const std::string& name) const;  // throws DatasetError when absent
  // The slide a display names it by: its "wsi" record's path (the ready-made loaders' record),
  // else its first record's, "" when it has none.
  std::string slide_path() const;
  bool operator==(const Patient& o) const { return int_uniqueid == o.int_uniqueid; }
  bool operator<(const Patient& o) const { return int_uniqueid < o.int_uniqueid; }
};

// Returns the label a split or a balancing is about, e.g. [](auto& p){ return p.labels["class"]; }
using LabelFn = std::function<nlohmann::json(const Patient&)>;
// Builds what create_onetoone attaches to each file (labels or record infos), from its path.
using FileInfoFn = std::function<nlohmann::json(const std::string& relative_path)>;

class Dataset {
 public:
  Dataset() = default;
  // Throws DatasetError when two patients share an id.
  Dataset(std::string str_dsname, std::vector<Patient> list_patients);

  std::string str_dsname;
  // PyDmed's name, readable and writable (tests and tools build datasets by hand); the loader
  // checks the ids again (check_unique_ids), so a list edited into duplicates is refused there.
  std::vector<Patient> list_patients;
  void check_unique_ids() const;  // DatasetError naming the first id two patients share

  std::size_t size() const { return list_patients.size(); }
  const Patient& patient(std::int64_t id) const;  // throws DatasetError when absent

  // Seeded random partition by percentages (which must sum to 100). Every patient lands in
  // exactly one part; part sizes are the largest-remainder rounding of the percentages.
  std::vector<Dataset> splits_from(const std::vector<double>& percentages, std::uint64_t seed) const;
  // Same, per label, so that each part has the labels in the dataset's proportions.
  std::vector<Dataset> labelbalanced_splits_from(const std::vector<double>& percentages, const LabelFn& label,
                                                 std::uint64_t seed) const;
  // Repeats patients until every label has `newlen_each_class` patients (default: the least
  // common multiple of the label counts). Copy k of patient i gets id k * 10^digits + i and
  // infos["original_id"] = i.
  Dataset balance_by_repeat(const LabelFn& label, std::int64_t newlen_each_class = 0) const;

  // This process's share for data-parallel training: the patients at positions rank,
  // rank + world_size, ... of the dataset sorted by id. The shares are disjoint and cover it.
  // With `label`, the positions run through the patients grouped by label (labels in order,
  // ids in order within each), so every rank also gets its share of each label, to one patient.
  Dataset shard(int rank, int world_size, const LabelFn& label = nullptr) const;
  // The label function a loader shards by: the one label every patient has, when they all
  // have exactly one and the same key (PyDmed's datasets mostly do); else none.
  LabelFn common_label() const;
  // That label's name; "" when there is none.
  std::string common_label_name() const;
  // Which slide each patient id names: {"<id>": {"<record>": path}}. A resumable run's state
  // keeps it, so that a resume over a changed source (a slide added, a folder re-sorted) is
  // refused instead of applying positions to the wrong slides.
  nlohmann::json records_by_id() const;
  // Every record's file -> content_stamp (size, modification time): what a resumable run records
  // so that a slide replaced between its stops is refused, not mixed with the old one.
  nlohmann::json slide_stamps() const;

  // One patient per file under `rootdir` (recursively) whose name ends in `suffix`, in sorted
  // path order, ids 0, 1, ...; each gets a record "wsi". Optional callbacks give each
  // patient's labels and the record's infos from the file's relative path.
  static Dataset create_onetoone(const std::string& str_dsname, const std::string& rootdir, const std::string& suffix,
                                 const FileInfoFn& labels = nullptr, const FileInfoFn& wsi_infos = nullptr);
  // Same, for every file whose name `accept` takes. An entry that cannot be read (a folder
  // without permission, a symbolic link loop, a broken link with an accepted name) is added to
  // `skipped` as "PATH: reason" and the scan goes on; without `skipped`, it throws DatasetError
  // naming that entry. Symbolic links to folders are not followed (no cycles).
  static Dataset create_onetoone(const std::string& str_dsname, const std::string& rootdir,
                                 const std::function<bool(const std::string& filename)>& accept,
                                 const FileInfoFn& labels = nullptr, const FileInfoFn& wsi_infos = nullptr,
                                 std::vector<std::string>* skipped = nullptr);
};

}  // namespace pydmed
