#include "pydmed/data/sample_dataset.hpp"

#include <cstdio>
#include <filesystem>

#include "pydmed/data/manifest.hpp"
#include "pydmed/error.hpp"
#include "pydmed/partial_files.hpp"
#include "pydmed/random.hpp"
#include "pydmed/slide/sample_slide.hpp"

namespace fs = std::filesystem;

namespace pydmed {

Dataset make_sample_dataset(const std::string& dir, int count, std::int64_t size, std::uint64_t seed,
                            const std::string& source) {
  return make_sample_dataset(dir, count, SampleSlideOptions().width(size).height(size).seed(seed).source(source));
}

Dataset make_sample_dataset(const std::string& dir, int count, const SampleSlideOptions& base,
                            const std::function<void(const std::string& slide)>& on_slide) {
  const std::uint64_t seed = base.seed();
  if (count <= 0) throw Error("make_sample_dataset: count must be positive");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
  std::vector<int> labels(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) labels[std::size_t(i)] = i % 2;
  Rng({seed, 0x1ABE1}).shuffle(labels);
  std::vector<Patient> patients;
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "slide_%03d.tiff", i);
    const fs::path file = fs::path(dir) / name;
    const auto slide_seed = splitmix64(seed * 1000003 + std::uint64_t(i));
    // Write to a temporary name first: an interrupted run never leaves a half slide behind.
    const fs::path tmp = file.string() + ".part";
    const PartialFile partial(tmp.string());  // Ctrl-C in the command-line tool removes it too
    try {
      write_sample_slide(tmp.string(), SampleSlideOptions(base).seed(slide_seed).label(labels[std::size_t(i)]));
    } catch (...) {
      fs::remove(tmp, ec);  // a failed write (full disk) leaves nothing behind either
      throw;
    }
    fs::rename(tmp, file, ec);
    if (ec) throw Error(file.string() + ": cannot move the new slide into place: " + ec.message());
    if (on_slide) on_slide(file.string());
    Patient p;
    p.int_uniqueid = i;
    p.dict_records["wsi"] = Record{fs::absolute(dir).string(), name, nlohmann::json::object()};
    p.labels["class"] = labels[std::size_t(i)];
    patients.push_back(std::move(p));
  }
  Dataset ds("sample_slides", std::move(patients));
  write_manifest(ds, (fs::path(dir) / "manifest.csv").string());
  return ds;
}

}  // namespace pydmed
