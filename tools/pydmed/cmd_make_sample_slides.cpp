#include "commands.hpp"
#include "flags.hpp"
#include "pydmed/data/sample_dataset.hpp"
#include "pydmed/output_file.hpp"

namespace pydmed::cli {

Runner add_make_sample_slides(CLI::App& app) {
  struct Args {
    std::string dir;
    int count = 4;
    std::int64_t size = 8192;
    std::uint64_t seed = 0;
    std::string from;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("make-sample-slides", "Write tissue-like pyramidal TIFF slides and a manifest.csv");
  sub->add_option("DIR", a->dir, "output folder")->required();
  sub->add_option("--count", a->count, "number of slides")->default_val(4)->check(integer(1, 100000));
  sub->add_option("--size", a->size, "width and height in pixels")->default_val(8192)->check(integer(1, 1000000));
  sub->add_option("--seed", a->seed, "random seed")->default_val(0)->check(unsigned_integer());
  sub->add_option("--from", a->from,
                  "a real slide: the pixels become mosaics of its tissue (for benchmarks on real tissue)");
  return [a] {
    const Dataset ds = make_sample_dataset(a->dir, a->count, a->size, a->seed, a->from);
    OutputFile out("-");
    for (const Patient& p : ds.list_patients)
      out.write(p.record("wsi").path() + "\tlabel=" + p.labels["class"].dump() + '\n');
    out.write(a->dir + "/manifest.csv\n");
    out.close();
    return 0;
  };
}

}  // namespace pydmed::cli
