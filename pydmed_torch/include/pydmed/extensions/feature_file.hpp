#pragma once
// One slide's window embeddings as the multiple-instance-learning tools read them (CLAM,
// TRIDENT): an HDF5 file with "features" (float32 [N, D]) and "coords" (int64 [N, 2]: level-0
// x, y of each window's top-left), in window order, with the run's settings as attributes.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pydmed {

struct FeatureFile {
  std::int64_t rows = 0, dim = 0;
  std::vector<float> features;       // rows x dim
  std::vector<std::int64_t> coords;  // rows x 2
  // Attributes of the file (and the same on "coords"): numbers, booleans and strings.
  nlohmann::json attributes = nlohmann::json::object();

  // Writes PATH.part and renames it to PATH: the file is whole or absent. Deterministic (no
  // object timestamps): the same content gives the same bytes. Throws Error naming the file.
  void write(const std::string& path) const;
  // Throws Error naming the file when it is not such a file.
  static FeatureFile read(const std::string& path);
};

}  // namespace pydmed
