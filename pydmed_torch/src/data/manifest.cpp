#include "pydmed/data/manifest.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "data/csv.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/slide/physical.hpp"

namespace fs = std::filesystem;

namespace pydmed {
namespace {

enum class Kind { Id, Record, RecordInfo, Mpp, Roi, Label, Info };
struct Column {
  Kind kind;
  std::string name;
};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::string trim(std::string s) {
  const auto a = s.find_first_not_of(" \t\r");
  const auto b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Labels keep their type: 3 stays an integer, 0.5 a number, "tumour" text.
nlohmann::json label_value(const std::string& s) {
  std::int64_t i = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && p == s.data() + s.size()) return i;
  try {
    std::size_t used = 0;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

std::string label_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

namespace {

// The manifest's text and the folder its relative paths start from. A pipe or FIFO
// (`<(cat m.csv)`) is read once, whole; its relative paths are the working folder's (its own
// folder is /dev/fd).
struct ManifestText {
  std::istringstream text;
  std::string dir;
  static void read(const std::string& path, ManifestText* out) {
    std::ifstream file(path);
    if (!file) throw DatasetError(path, 0, fs::exists(path) ? "cannot read the manifest" : "no such file");
    std::error_code ec;
    const bool stream = !fs::is_regular_file(path, ec);
    std::ostringstream all;
    all << file.rdbuf();
    if (file.bad()) throw DatasetError(path, 0, "read error");
    out->text.str(all.str());
    out->dir = stream ? fs::current_path().string() : fs::absolute(path).parent_path().string();
  }
};

std::vector<Column> parse_header(const std::vector<std::string>& f, const std::string& path, int lineno) {
  std::vector<Column> cols;
  bool id = false, record = false;
  std::set<std::string> names;
  for (const auto& h : f) {
    if (!names.insert(h).second) throw DatasetError(path, lineno, "duplicate column '" + h + "'");
    if (h == "patient_id")
      cols.push_back({Kind::Id, ""}), id = true;
    else if (h == "info")
      cols.push_back({Kind::Info, ""});
    else if (starts_with(h, "record:") && h.size() > 7)
      cols.push_back({Kind::Record, h.substr(7)}), record = true;
    else if (starts_with(h, "recordinfo:") && h.size() > 11)
      cols.push_back({Kind::RecordInfo, h.substr(11)});
    else if (starts_with(h, "mpp:") && h.size() > 4)
      cols.push_back({Kind::Mpp, h.substr(4)});
    else if (starts_with(h, "roi:") && h.size() > 4)
      cols.push_back({Kind::Roi, h.substr(4)});
    else if (starts_with(h, "label:") && h.size() > 6)
      cols.push_back({Kind::Label, h.substr(6)});
    else
      throw DatasetError(
          path, lineno,
          "unknown column '" + h +
              "' (expected patient_id, record:NAME, label:NAME, recordinfo:NAME, mpp:NAME, roi:NAME or info)");
  }
  if (!id) throw DatasetError(path, lineno, "missing column 'patient_id'");
  if (!record) throw DatasetError(path, lineno, "missing column 'record:NAME' (at least one record per patient)");
  return cols;
}

// One patient line, field by field. What the recordinfo:, mpp: and roi: columns add to a
// record's infos is applied once its records are known (a column may come before its record's).
class RowReader {
 public:
  RowReader(const std::string& path, int lineno, const std::string& dir) : path_(path), lineno_(lineno), dir_(dir) {}

  Patient read(const std::vector<Column>& cols, const std::vector<std::string>& f) {
    Patient p;
    for (std::size_t i = 0; i < cols.size(); ++i) field(cols[i], f[i], &p);
    if (p.dict_records.empty()) fail("the patient has no record (all record columns are empty)");
    for (auto& [rec, info] : record_infos_) record_of(&p, "recordinfo:" + rec, rec).dict_infos = std::move(info);
    for (auto& [key, rec, value] : record_keys_) record_of(&p, key + ":" + rec, rec).dict_infos[key] = std::move(value);
    return p;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw DatasetError(path_, lineno_, why); }

  Record& record_of(Patient* p, const std::string& column, const std::string& rec) const {
    auto it = p->dict_records.find(rec);
    if (it == p->dict_records.end()) fail(column + " given for an empty record");
    return it->second;
  }

  void field(const Column& col, const std::string& v, Patient* p) {
    switch (col.kind) {
      case Kind::Id: {
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), p->int_uniqueid);
        if (ec != std::errc() || ptr != v.data() + v.size() || v.empty()) fail("patient_id '" + v + "' is not an integer");
        break;
      }
      case Kind::Record:
        if (!v.empty()) {
          const bool abs = fs::path(v).is_absolute();
          p->dict_records[col.name] = Record{abs ? "" : dir_, v, nlohmann::json::object()};
        }
        break;
      case Kind::Label:
        if (!v.empty()) p->labels[col.name] = label_value(v);
        break;
      case Kind::Mpp: {
        if (v.empty()) break;
        const nlohmann::json n = label_value(v);
        if (!n.is_number() || !plausible_mpp(n.get<double>()))
          fail("column 'mpp:" + col.name + "': '" + v + "' is not " + plausible_mpp_text());
        record_keys_.emplace_back("mpp", col.name, n.get<double>());  // open_record_slide gives it to the slide
        break;
      }
      case Kind::Roi:
        // Annotations (GeoJSON) of the record's slide; relative to the manifest like records.
        if (!v.empty())  // record_annotations reads it
          record_keys_.emplace_back("roi", col.name, fs::path(v).is_absolute() ? v : (fs::path(dir_) / v).string());
        break;
      case Kind::RecordInfo:
      case Kind::Info: {
        if (v.empty()) break;
        auto j = nlohmann::json::parse(v, nullptr, false);
        if (j.is_discarded() || !j.is_object())
          fail("column '" + std::string(col.kind == Kind::Info ? "info" : "recordinfo:" + col.name) +
               "' is not a JSON object");
        if (col.kind == Kind::Info)
          p->infos = std::move(j);
        else
          record_infos_[col.name] = std::move(j);
        break;
      }
    }
  }

  const std::string& path_;
  const int lineno_;
  const std::string& dir_;
  std::map<std::string, nlohmann::json> record_infos_;
  std::vector<std::tuple<std::string, std::string, nlohmann::json>> record_keys_;  // key, record, value
};

}  // namespace

Dataset read_manifest(const std::string& path) {
  ManifestText m;
  ManifestText::read(path, &m);
  std::string name = fs::path(path).stem().string();
  std::vector<Column> cols;
  std::vector<Patient> patients;
  std::set<std::int64_t> ids;
  std::string line;
  for (int lineno = 1; std::getline(m.text, line); ++lineno) {
    // A UTF-8 byte-order mark, as Excel writes one, is not part of the first column's name.
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    const std::string t = trim(line);
    if (t.empty()) continue;
    if (t[0] == '#') {
      if (starts_with(t, "# dataset:")) name = trim(t.substr(10));
      continue;
    }
    std::vector<std::string> f;
    try {
      f = csv::split(t);
    } catch (const std::invalid_argument& e) {
      throw DatasetError(path, lineno, e.what());
    }
    for (auto& x : f) x = trim(x);
    if (cols.empty()) {  // the header
      cols = parse_header(f, path, lineno);
      continue;
    }
    if (f.size() != cols.size()) {
      throw DatasetError(path, lineno,
                         "expected " + std::to_string(cols.size()) + " fields, found " + std::to_string(f.size()));
    }
    Patient p = RowReader(path, lineno, m.dir).read(cols, f);
    if (!ids.insert(p.int_uniqueid).second) {
      const auto id = std::find_if(cols.begin(), cols.end(), [](const Column& c) { return c.kind == Kind::Id; });
      throw DatasetError(path, lineno, "duplicate patient id " + f[std::size_t(id - cols.begin())]);
    }
    patients.push_back(std::move(p));
  }
  if (cols.empty()) throw DatasetError(path, 0, "empty manifest: no header line");
  return Dataset(name, std::move(patients));
}

void write_manifest(const Dataset& ds, const std::string& path) {
  const fs::path dir = fs::absolute(path).parent_path();
  std::set<std::string> records, labels, with_info;
  bool any_info = false;
  for (const Patient& p : ds.list_patients) {
    for (auto& [n, r] : p.dict_records) {
      records.insert(n);
      if (!r.dict_infos.empty()) with_info.insert(n);
    }
    for (auto& [n, v] : p.labels.items()) labels.insert(n);
    any_info |= !p.infos.empty();
  }
  std::string out = "# dataset: " + ds.str_dsname + "\npatient_id";
  for (auto& n : records) out += ',' + csv::quote("record:" + n);
  for (auto& n : labels) out += ',' + csv::quote("label:" + n);
  for (auto& n : with_info) out += ',' + csv::quote("recordinfo:" + n);
  if (any_info) out += ",info";
  out += '\n';
  for (const Patient& p : ds.list_patients) {
    out += std::to_string(p.int_uniqueid);
    for (auto& n : records) {
      auto it = p.dict_records.find(n);
      std::string cell;
      if (it != p.dict_records.end()) {
        const Record& r = it->second;
        // Relative paths stay relative when the record lives beside the manifest.
        std::error_code ec;
        const bool beside = !r.rootdir.empty() && !fs::path(r.relativedir).is_absolute() &&
                            fs::equivalent(fs::absolute(r.rootdir), dir, ec);
        cell = beside || is_url(r.relativedir) ? r.relativedir : fs::absolute(r.path()).string();
      }
      out += ',' + csv::quote(cell);
    }
    for (auto& n : labels) out += ',' + csv::quote(p.labels.contains(n) ? label_text(p.labels[n]) : "");
    for (auto& n : with_info) {
      auto it = p.dict_records.find(n);
      out +=
          ',' +
          csv::quote(it != p.dict_records.end() && !it->second.dict_infos.empty() ? it->second.dict_infos.dump() : "");
    }
    if (any_info) out += ',' + csv::quote(p.infos.empty() ? "" : p.infos.dump());
    out += '\n';
  }
  OutputFile f(path, OutputFile::Mode::Atomic);  // a manifest is whole or absent
  f.write(out);
  f.close();
}

}  // namespace pydmed
