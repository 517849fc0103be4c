#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "pydmed/output_file.hpp"
#include "pydmed/slide/remote.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed::cli {

Command add_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Print a slide's vendor, reader, levels and mpp as JSON");
  auto path = std::make_shared<std::string>();
  auto props = std::make_shared<bool>(false);
  sub->add_option("SLIDE", *path, "slide or image file")->required();
  sub->add_flag("--properties", *props, "also print every OpenSlide property");
  return Command{sub, [=] {
    const Slide slide(*path);
    nlohmann::json j;
    j["path"] = redact_url(slide.path());
    j["vendor"] = slide.vendor();
    j["reader"] = slide.reader();
    j["level_count"] = slide.level_count();
    j["levels"] = nlohmann::json::array();
    for (const auto& l : slide.levels()) {
      j["levels"].push_back({{"width", l.width}, {"height", l.height}, {"downsample", l.downsample}});
    }
    j["mpp_x"] = slide.mpp_x() ? nlohmann::json(*slide.mpp_x()) : nlohmann::json();
    j["mpp_y"] = slide.mpp_y() ? nlohmann::json(*slide.mpp_y()) : nlohmann::json();
    j["associated_images"] = slide.associated_image_names();
    if (*props) j["properties"] = slide.properties();
    OutputFile out("-");
    out.write(j.dump(2) + '\n');
    out.close();  // "standard output: write failed: No space left on device", exit 1
    return 0;
  }};
}

}  // namespace pydmed::cli
