#include "pydmed/extensions/feature_file.hpp"

#include <hdf5.h>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "pydmed/error.hpp"

namespace pydmed {

namespace {

// Closes an HDF5 handle with its own close function.
class H5Handle {
 public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// HDF5 prints its error stack to stderr by default; ours are one line each.
void quiet_hdf5() {
  static const bool once = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)once;
}

void check(bool ok, const std::string& path, const std::string& what) {
  if (!ok) throw Error(path + ": " + what);
}

void write_attribute(hid_t on, const std::string& name, const nlohmann::json& v, const std::string& path) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), std::max<std::size_t>(1, s.size()));
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    H5Handle a(H5Acreate2(on, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    check(a.ok() && H5Awrite(a.get(), type.get(), s.c_str()) >= 0, path, "cannot write attribute " + name);
  } else if (v.is_number_integer() || v.is_boolean()) {
    const std::int64_t x = v.is_boolean() ? std::int64_t(v.get<bool>()) : v.get<std::int64_t>();
    H5Handle a(H5Acreate2(on, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    check(a.ok() && H5Awrite(a.get(), H5T_NATIVE_INT64, &x) >= 0, path, "cannot write attribute " + name);
  } else if (v.is_number()) {
    const double x = v.get<double>();
    H5Handle a(H5Acreate2(on, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    check(a.ok() && H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &x) >= 0, path, "cannot write attribute " + name);
  } else {
    throw Error(path + ": attribute " + name + " is neither a number nor a string: " + v.dump());
  }
}

void write_dataset(hid_t file, const char* name, hid_t file_type, hid_t mem_type, std::int64_t rows, std::int64_t cols,
                   const void* data, const nlohmann::json& attributes, const std::string& path) {
  const hsize_t dims[2] = {hsize_t(rows), hsize_t(cols)};
  H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), false);  // no timestamps: the same rows, the same bytes
  H5Handle d(H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  check(d.ok(), path, std::string("cannot create dataset ") + name);
  if (rows > 0)
    check(H5Dwrite(d.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, path,
          std::string("cannot write dataset ") + name);
  for (const auto& [k, v] : attributes.items()) write_attribute(d.get(), k, v, path);
}

nlohmann::json read_attributes(hid_t on, const std::string& path) {
  nlohmann::json out = nlohmann::json::object();
  H5O_info_t info;
  if (H5Oget_info2(on, &info, H5O_INFO_NUM_ATTRS) < 0) return out;
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    H5Handle a(H5Aopen_by_idx(on, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a.ok()) continue;
    char name[256] = {0};
    H5Aget_name(a.get(), sizeof name, name);
    H5Handle type(H5Aget_type(a.get()), H5Tclose);
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls == H5T_STRING) {
      std::string s(H5Tget_size(type.get()), '\0');
      H5Aread(a.get(), type.get(), s.data());
      s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
      out[name] = s;
    } else if (cls == H5T_INTEGER) {
      std::int64_t x = 0;
      H5Aread(a.get(), H5T_NATIVE_INT64, &x);
      out[name] = x;
    } else if (cls == H5T_FLOAT) {
      double x = 0;
      H5Aread(a.get(), H5T_NATIVE_DOUBLE, &x);
      out[name] = x;
    }
  }
  (void)path;
  return out;
}

}  // namespace

void FeatureFile::write(const std::string& path) const {
  quiet_hdf5();
  if (features.size() != std::size_t(rows * dim) || coords.size() != std::size_t(rows * 2)) {
    throw Error(path + ": " + std::to_string(rows) + " rows of " + std::to_string(dim) +
                " features do not match the buffers given");
  }
  const std::string part = path + ".part";
  try {
    H5Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Handle file(H5Fcreate(part.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    check(file.ok(), part, "cannot create the HDF5 file");
    write_dataset(file.get(), "features", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rows, dim, features.data(),
                  nlohmann::json::object(), part);
    write_dataset(file.get(), "coords", H5T_STD_I64LE, H5T_NATIVE_INT64, rows, 2, coords.data(), attributes, part);
    for (const auto& [k, v] : attributes.items()) write_attribute(file.get(), k, v, part);
    check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL) >= 0, part, "write failed");
  } catch (const Error&) {
    std::error_code ec;
    std::filesystem::remove(part, ec);  // no half-written file left behind
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) {
    std::filesystem::remove(part, ec);
    throw Error(path + ": cannot move " + part + " into place: " + ec.message());
  }
}

FeatureFile FeatureFile::read(const std::string& path) {
  quiet_hdf5();
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  check(file.ok(), path, "not an HDF5 file (or it cannot be read)");
  FeatureFile f;
  auto shape = [&](const char* name, hid_t d) {
    H5Handle space(H5Dget_space(d), H5Sclose);
    hsize_t dims[2] = {0, 0};
    check(H5Sget_simple_extent_ndims(space.get()) == 2, path, std::string("dataset ") + name + " is not 2-D");
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    return std::make_pair(std::int64_t(dims[0]), std::int64_t(dims[1]));
  };
  H5Handle features(H5Dopen2(file.get(), "features", H5P_DEFAULT), H5Dclose);
  check(features.ok(), path, "no dataset \"features\"");
  H5Handle coords(H5Dopen2(file.get(), "coords", H5P_DEFAULT), H5Dclose);
  check(coords.ok(), path, "no dataset \"coords\"");
  std::tie(f.rows, f.dim) = shape("features", features.get());
  const auto [crows, ccols] = shape("coords", coords.get());
  check(crows == f.rows && ccols == 2, path, "coords is not [rows, 2]");
  f.features.resize(std::size_t(f.rows * f.dim));
  f.coords.resize(std::size_t(f.rows * 2));
  if (f.rows > 0) {
    check(H5Dread(features.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, f.features.data()) >= 0, path,
          "cannot read features");
    check(H5Dread(coords.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, f.coords.data()) >= 0, path,
          "cannot read coords");
  }
  f.attributes = read_attributes(file.get(), path);
  return f;
}

}  // namespace pydmed
