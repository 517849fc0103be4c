#include <opencv2/imgproc.hpp>

#include "commands.hpp"
#include "flags.hpp"
#include "output_guard.hpp"
#include "physical_flags.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed::cli {

Command add_read(CLI::App& app) {
  struct Args {
    std::string path, out;
    std::int64_t x = 0, y = 0, w = 0, h = 0;
    int level = 0;
    PhysicalFlags physical;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("read", "Write a region as PNG (or raw RGB bytes for .rgb)");
  sub->add_option("SLIDE", a->path, "slide or image file")->required();
  sub->add_option("--x", a->x, "left, in level-0 pixels")->required();
  sub->add_option("--y", a->y, "top, in level-0 pixels")->required();
  auto* level = sub->add_option("--level", a->level, "pyramid level")->default_val(0)->check(integer(0, 1000));
  a->physical.add_to(sub, level);
  sub->add_option("--width", a->w, "width, in pixels of the level (or at --mpp)")
      ->required()
      ->check(integer(1, 1 << 20));
  sub->add_option("--height", a->h, "height, in pixels of the level (or at --mpp)")
      ->required()
      ->check(integer(1, 1 << 20));
  sub->add_option("--out", a->out, "output file: .png, or .rgb for raw RGB rows")->required();
  return Command{sub, [a] {
    refuse_outputs_over_inputs({{"--out", a->out}}, {a->path});
    Slide slide(a->path);
    const PhysicalFlags& ph = a->physical;
    if (ph.slide_mpp > 0 && !slide.mpp_x()) slide.set_mpp(ph.slide_mpp, ph.slide_mpp);  // a fallback, as in stream
    const double target = ph.target();
    const cv::Mat rgb = target > 0 ? slide.read_region_at_mpp(a->x, a->y, target, int(a->w), int(a->h), ph.upsample)
                                   : slide.read_region(a->x, a->y, a->level, a->w, a->h);
    const bool raw = a->out.size() >= 4 && a->out.compare(a->out.size() - 4, 4, ".rgb") == 0;
    if (raw) {
      OutputFile f(a->out, OutputFile::Mode::Atomic);
      f.write(rgb.data, rgb.total() * rgb.elemSize());
      f.close();
      return 0;
    }
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    write_image(a->out, bgr);
    return 0;
  }};
}

}  // namespace pydmed::cli
