#pragma once
// Private: the built-in readers' openers and memory estimates, for the registry
// (open_backend.cpp). (The public registry is pydmed/slide/backend.hpp.)
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "pydmed/slide/backend.hpp"

namespace pydmed {

// OpenSlide's tile cache, per handle, in 3.4.1 (_OPENSLIDE_USEFUL_CACHE_SIZE).
constexpr std::size_t kOpenSlideCacheBytes = std::size_t{32} << 20;

// Aperio and generic-tiff pyramids whose levels are all JPEG tiles OpenSlide would decode
// through libtiff: read exactly as OpenSlide reads them, at libjpeg-turbo's speed. Anything it
// cannot match exactly (another compression, a non-integer position) it declines quietly or
// hands to OpenSlide.
// `quickhash` false: without openslide.quickhash-1, which reads the smallest level's tiles (for
// memory estimates, which need only the header).
OpenResult open_with_tiff_tiles(const std::string& path, bool quickhash = true);
// DICOM whole-slide image series (Supplement 145): an instance file (DICM signature) or the
// folder of one series. Final for every DICOM file: it says why it cannot read one.
bool is_dicom(const std::string& path);
OpenResult open_with_dicom(const std::string& path);
// What a folder scan needs of a DICOM whole-slide instance file: its series (uid "" for anything
// else) and whether it is a level, how wide (the widest names the series).
struct DicomSeriesMember {
  std::string series_uid;
  bool volume = false;
  std::int64_t width = 0;
};
DicomSeriesMember dicom_series_member(const std::string& path);
// A vendor OpenSlide detects but cannot open is final, except generic-tiff (libtiff may
// still read a tiled TIFF OpenSlide refuses).
OpenResult open_with_openslide(const std::string& path);
// TIFF files: the first directory, header only; strips or tiles decoded on demand.
OpenResult open_with_tiff(const std::string& path);
// PNG and JPEG sized from their header and decoded on the first read; other formats OpenCV
// knows decoded now. TIFF is left to libtiff (OpenCV reads TIFF through libtiff anyway).
OpenResult open_with_opencv(const std::string& path);

// SlideBackendEntry::resident_bytes of the built-in readers: from headers only.
std::optional<std::size_t> tiff_tiles_resident_bytes(const std::string& path);
std::optional<std::size_t> openslide_resident_bytes(const std::string& path);  // its cache, for a vendor it detects
std::optional<std::size_t> tiff_resident_bytes(const std::string& path);
std::optional<std::size_t> opencv_resident_bytes(const std::string& path);

}  // namespace pydmed
