#pragma once
// Where libtiff's messages go. Its global handlers print to stderr and are process-wide (OpenCV
// replaces them with its own when it first decodes a TIFF), so the handles opened here carry
// their own: errors are kept on the handle for the slide's message, nothing reaches stderr.
#include <tiffio.h>

#include <memory>
#include <string>

#include "slide/byte_source.hpp"

namespace pydmed {

// A TIFF handle's last error, "module: text", one line. Guarded by whatever guards the handle.
struct TiffErrors {
  std::string last;
  std::string remote;  // a remote source's bytes that did not arrive (RemoteError's reason), to rethrow
};

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffCloser>;

// Replaces libtiff's global stderr handlers with silent ones, once for the process
// (thread-safe), so that OpenSlide's own libtiff calls stay quiet too.
void silence_libtiff();

// TIFFOpen whose errors go to `errors` (which must outlive the handle) and whose warnings are
// dropped, whatever the global handlers are.
TiffPtr open_tiff(const std::string& path, const char* mode, TiffErrors* errors);
// The same over a ByteSource (read-only; a remote object is read by range through its cache).
TiffPtr open_tiff(std::shared_ptr<const ByteSource> source, TiffErrors* errors);

}  // namespace pydmed
