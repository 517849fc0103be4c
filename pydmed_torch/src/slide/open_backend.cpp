// The registry: which reader opens a file, and one line saying why none did.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "pydmed/error.hpp"
#include "slide/backend.hpp"
#include "slide/tiff_log.hpp"

namespace pydmed {
namespace {

// Reject what cannot be a slide before a decoder sees it, with the reason a user can act on.
void check_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw SlideError(path, errno == ENOENT ? "no such file" : std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) throw SlideError(path, "is a directory, not a slide");
  if (!S_ISREG(st.st_mode)) throw SlideError(path, "not a regular file");
  if (st.st_size == 0) throw SlideError(path, "empty file (0 bytes)");
  if (::access(path.c_str(), R_OK) != 0) throw SlideError(path, std::strerror(errno));
}

}  // namespace

std::unique_ptr<SlideBackend> open_backend(const std::string& path) {
  check_file(path);
  silence_libtiff();  // OpenSlide reads TIFFs through libtiff too
  static const std::pair<const char*, OpenResult (*)(const std::string&)> kOpeners[] = {
      {"OpenSlide", open_with_openslide}, {"libtiff", open_with_tiff}, {"OpenCV", open_with_opencv}};
  std::string reasons;
  bool recognised = false;
  for (const auto& [name, open] : kOpeners) {
    OpenResult r = open(path);
    if (r.backend && !r.backend->levels.empty()) return std::move(r.backend);
    if (r.backend) r.reason = "the slide has no levels";
    reasons += std::string(reasons.empty() ? "" : "; ") + name + ": " + r.reason;
    recognised = recognised || r.recognised;
    if (r.final) break;
  }
  throw SlideError(path, (recognised ? "cannot open: " : "unsupported format: ") + reasons);
}

}  // namespace pydmed
