#pragma once
// Private: a whole remote object as a local file, for readers that read only files (OpenSlide,
// libtiff's strip reader, OpenCV): in the disk cache when there is one (kept for later runs),
// else in a temporary folder of the program (its processes share it), removed when it ends.
// Fetched once: other processes of the run wait on a lock file for it (no polling). The copy is
// written as a .part and renamed, so a cut transfer never leaves a file that looks whole.
#include <string>

namespace pydmed::remote {

// The local path (its name ends with the URL's file name, so extensions still tell formats).
// Throws SlideError naming the URL.
std::string local_copy(const std::string& url);

}  // namespace pydmed::remote
