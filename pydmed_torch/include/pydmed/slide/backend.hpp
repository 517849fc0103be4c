#pragma once
// The slide readers and their registry. A reader is {probe, open}: Slide asks each in turn and
// keeps the first that opens the file. The built-in order is
//   "dicom"     DICOM whole-slide image series (an instance file, or the folder of one series),
//   "tiff"      the project's exact TIFF-JPEG tile reader (Aperio and generic-tiff pyramids whose
//               levels are JPEG tiles; byte-identical to OpenSlide, faster),
//   "openslide" every vendor format OpenSlide knows,
//   "libtiff"   TIFFs OpenSlide refuses (striped, one directory),
//   "opencv"    PNG, JPEG and the other plain images OpenCV reads.
// A reader of your own (a vendor SDK, a cloud store, cuCIM) subclasses SlideBackend and is
// registered once, before slides are opened:
//   pydmed::register_slide_backend({"myformat", [](auto& p) { return ends_with(p, ".my"); },
//                                   [](auto& p) { OpenResult r; ...; return r; }});
// Collector processes are forked from the program, so they inherit the registry. A slide given
// as a URL (pydmed/slide/remote.hpp) reaches a reader of your own as the URL; OpenSlide, libtiff
// and OpenCV get a local copy of the object.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pydmed/slide/slide.hpp"

namespace pydmed {

class SlideBackend {
 public:
  virtual ~SlideBackend() = default;
  std::string reader;                             // the registry name it was opened by (pydmed info's "reader")
  std::string vendor;                             // OpenSlide's vendor name where it has one
  std::vector<LevelInfo> levels;                  // level 0 first, downsamples ascending
  std::map<std::string, std::string> properties;  // openslide.* names for what OpenSlide also reports
  virtual std::vector<std::string> associated_image_names() const { return {}; }
  // Called only with a name from associated_image_names().
  virtual cv::Mat read_associated_image(const std::string& name, Rgb bg) const = 0;
  // The region as Slide::read_region defines it, into w * h * 3 bytes of RGB. Arguments are
  // checked (level valid, sizes positive and bounded). Throws SlideError. Called from several
  // threads at once.
  virtual void read_region(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level, std::int64_t w, std::int64_t h,
                           Rgb bg) const = 0;
  // Upper bound of the memory held for reads (see Slide::resident_bytes).
  virtual std::size_t resident_bytes() const = 0;
  // The region read_region will be asked for soon (same arguments, already checked): readers of
  // remote bytes start fetching it and return at once.
  virtual void prefetch(std::int64_t /*x*/, std::int64_t /*y*/, int /*level*/, std::int64_t /*w*/,
                        std::int64_t /*h*/) const {}
  // Threads one read_region may decode with; readers that cannot split a read ignore it.
  virtual void set_decode_threads(int /*threads*/) {}
};

// One reader's verdict on a file. Openers never throw for a bad file; they say why here.
struct OpenResult {
  std::unique_ptr<SlideBackend> backend;  // null: not opened
  std::string reason;                     // why not, one line, without the path; "": declined quietly
  bool recognised = false;                // the file is in a format this reader claims
  bool final = false;                     // the verdict stands: no later reader may take the file
};

struct SlideBackendEntry {
  std::string name;  // the reader's name, as SlideBackend::reader and in Slide's messages
  // Cheap (a signature, an extension): false skips the reader without a word.
  std::function<bool(const std::string& path)> probe;
  std::function<OpenResult(const std::string& path)> open;
  // Optional, from the file's headers alone (memory admission counts a whole dataset this way):
  // what a slide this reader opens holds for reads (SlideBackend::resident_bytes); nullopt: not
  // a file it opens. Without it, the reader is opened and asked.
  std::function<std::optional<std::size_t>(const std::string& path)> resident_bytes = nullptr;
  // It opens folders (a DICOM series' folder); readers without it are never asked about one.
  bool folders = false;
};

// Adds a reader at `position` in the order (0: asked first; past the end: asked last).
// Thread-safe; slides opened before keep their reader.
void register_slide_backend(SlideBackendEntry entry, std::size_t position = 0);
// The readers' names, in the order they are asked.
std::vector<std::string> slide_backend_names();

// The first reader that opens `path` (only the one named `only`, when given). Otherwise throws
// SlideError with the reason of every reader that had one, in order, on one line.
std::unique_ptr<SlideBackend> open_backend(const std::string& path, const std::string& only = "");
// The first answer of the readers, in order, to what `path` will hold once open (their
// resident_bytes, or an open); OpenSlide's cache size for a file none takes (it will fail to open).
std::size_t estimate_resident_bytes(const std::string& path);

}  // namespace pydmed
