#pragma once
// A whole-slide image (any vendor format OpenSlide knows), a TIFF OpenSlide does not open
// (striped, or tiled in a way it refuses: through libtiff, first directory, one level) or a
// plain PNG/JPEG/... image (through OpenCV, one level), read as RGB uint8, height x width x 3.
// Which reader decodes a file is the registry's choice (pydmed/slide/backend.hpp): Aperio and
// generic-tiff JPEG pyramids go to the project's tile reader, byte-identical to OpenSlide.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "pydmed/slide/physical.hpp"

#include "pydmed/slide/region.hpp"

namespace pydmed {

struct LevelInfo {
  std::int64_t width = 0;
  std::int64_t height = 0;
  double downsample = 1.0;  // level-0 pixels per pixel of this level
};

struct Rgb {
  std::uint8_t r = 255, g = 255, b = 255;
};

class SlideBackend;  // a reader from the registry (pydmed/slide/backend.hpp)

class Slide {
 public:
  // Largest region one read may return, in pixels (1 GiB of ARGB): a guard against absurd sizes.
  static constexpr std::int64_t kMaxRegionPixels = std::int64_t{1} << 28;

  // Opens `path`, reading headers only (a PNG or JPEG is decoded on its first read). Throws
  // SlideError naming the path and the reason: missing, a directory, empty, or, when no reader
  // opens it, each reader's reason on one line, OpenSlide's first:
  //   "cannot open: OpenSlide: <why>; libtiff: <why>; OpenCV: <why>"
  // ("unsupported format: ..." when none recognises the format). A slide OpenSlide recognises
  // as a vendor format but fails to open is not handed to the others: "cannot open:
  // OpenSlide: aperio: <why>" (generic-tiff excepted: libtiff may still read that TIFF).
  explicit Slide(const std::string& path);
  // Opens `path` with the named reader only ("openslide", "tiff", ...; see
  // slide_backend_names()), e.g. to compare readers. SlideError when that reader declines it.
  Slide(const std::string& path, const std::string& reader);
  ~Slide();
  Slide(Slide&&) noexcept;
  Slide& operator=(Slide&&) noexcept;

  const std::string& path() const { return path_; }
  // OpenSlide's vendor ("aperio", "generic-tiff", ...), "tiff" for libtiff-read files, or
  // "image" for OpenCV-read files.
  const std::string& vendor() const;
  // Which reader decodes it: "tiff" (the tile reader), "openslide", "libtiff", "opencv", or the
  // name a registered reader was given.
  const std::string& reader() const { return reader_; }
  int level_count() const { return static_cast<int>(levels().size()); }
  const std::vector<LevelInfo>& levels() const;
  const LevelInfo& level(int level) const;  // throws SlideError when out of range
  // The reader's tile size on `level` in its pixels (openslide.level[N].tile-width/-height),
  // {0, 0} where it does not say. Reads aligned to it decode no tile twice.
  std::pair<std::int64_t, std::int64_t> tile_size(int level) const;
  // The level whose downsample is the largest not above `downsample` (OpenSlide's rule).
  int best_level_for_downsample(double downsample) const;
  // Microns per level-0 pixel: set_mpp's, else OpenSlide's openslide.mpp-x/y, else the TIFF
  // resolution tags; nullopt when none says.
  std::optional<double> mpp_x() const;
  std::optional<double> mpp_y() const;
  // Gives the slide its mpp (a manifest's mpp:RECORD column, a --slide-mpp flag), overriding a
  // missing or wrong one. Throws SlideError unless both are finite and positive.
  void set_mpp(double mpp_x, double mpp_y);

  // Reading at a physical resolution (pydmed/slide/physical.hpp): the level and the region of
  // it that make `width` x `height` pixels at `target_mpp` microns a pixel.
  PhysicalRegion physical_region(double target_mpp, int width, int height, bool allow_upsample = false) const;
  // That region with its top-left corner at level-0 (x, y), resized to width x height (OpenCV
  // INTER_AREA; INTER_LINEAR when upsampling; no resize when the sizes are equal).
  cv::Mat read_region_at_mpp(std::int64_t x, std::int64_t y, double target_mpp, int width, int height,
                             bool allow_upsample = false) const;
  const std::map<std::string, std::string>& properties() const;

  std::vector<std::string> associated_image_names() const;
  cv::Mat read_associated_image(const std::string& name) const;

  // Colour given to transparent pixels (outside the scanned area or the image).
  void set_background(Rgb bg) { background_ = bg; }
  Rgb background() const { return background_; }

  // The region of `width` x `height` pixels of `level` whose top-left corner is at (x, y) in
  // level-0 pixels, as OpenSlide defines it. Returns a contiguous CV_8UC3 Mat in RGB order.
  // Pixels outside the slide get the background colour. Throws SlideError for a level out of
  // range, a non-positive or absurd size, or a decode failure.
  cv::Mat read_region(std::int64_t x, std::int64_t y, int level, std::int64_t width, std::int64_t height) const;
  // Same, into caller-owned memory of width * height * 3 bytes (e.g. shared memory).
  void read_region_into(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level, std::int64_t width,
                        std::int64_t height) const;

  // Like read_region_into, but where part of the region cannot be decoded: reopens the slide
  // (a failed OpenSlide handle stays failed), re-reads the region in pieces aligned to the
  // level's tile grid (openslide.level[N].tile-width/-height, else 256 x 256), reopening after
  // each failed piece, fills failed pieces with the background colour and returns them (empty:
  // the read was whole). Pieces that read are byte-identical to a whole read when the region
  // is pixel-aligned (level 0, or x, y and the downsample integers with x, y multiples of it).
  // Throws what read_region_into throws for bad arguments, and SlideError when the slide
  // cannot be reopened (or reopens as something else). Not safe concurrently with any other
  // call on this Slide: it replaces the reader.
  std::vector<DamagedPiece> read_region_salvage(std::uint8_t* rgb, std::int64_t x, std::int64_t y, int level,
                                                std::int64_t width, std::int64_t height);

  // The region read_region_into will be asked for soon: a slide read by URL starts fetching its
  // tiles (several requests in flight) and returns at once; elsewhere nothing happens.
  void prefetch_region(std::int64_t x, std::int64_t y, int level, std::int64_t width, std::int64_t height) const;
  // Read by URL (http, https, s3) rather than from a local file.
  bool is_remote() const;

  // Threads one read may decode tiles with (default 1). Readers that cannot split a read (all
  // but the tile reader) ignore it. A BigChunk of 2048 x 2048 is 64 to 81 tiles: worth it where
  // the loader process has cores to spare.
  void set_decode_threads(int threads);

  // The whole slide scaled to fit in max_size x max_size, aspect kept (RGB).
  cv::Mat thumbnail(int max_size) const;

  // An upper bound of the memory the reader holds for reads, beyond the caller's buffers:
  // - OpenCV (vendor "image"): the whole decoded image, width * height * 3 (from the first
  //   read on for PNG and JPEG, which open from their header; images over 2^28 pixels are
  //   refused at open);
  // - the tile reader: its tile tables, one decoder's buffers per decode thread, and OpenSlide's
  //   cache when a level's downsample is not a whole number (reads there go to OpenSlide);
  // - libtiff (vendor "tiff"): the largest strip or tile as 4-byte ARGB (the one kept between
  //   reads) plus libtiff's compressed and decoded buffers for it;
  // - OpenSlide: its tile cache, 32 MiB a handle in 3.4.1 (_OPENSLIDE_USEFUL_CACHE_SIZE).
  // Per-read scratch in proportion to the region asked for (OpenSlide's 4-byte ARGB buffer,
  // kept per thread up to 64 MiB) is not included.
  std::size_t resident_bytes() const;
  // The same bound for `path` without opening it as a slide (its first bytes and, for a TIFF,
  // its first directory): what memory admission counts for a slide a loader will hold. A file
  // whose open will be refused counts nothing; one of a format not sniffed here counts as an
  // OpenSlide handle.
  static std::size_t resident_bytes_estimate(const std::string& path);

 private:
  void reopen();
  void check_region(std::int64_t x, std::int64_t y, int level, std::int64_t width, std::int64_t height) const;

  std::string path_;
  std::unique_ptr<SlideBackend> backend_;
  std::string vendor_, reader_;  // the backend's, kept across reopen()
  std::vector<LevelInfo> levels_;
  std::map<std::string, std::string> properties_;
  std::optional<double> mpp_x_, mpp_y_;  // set_mpp's
  Rgb background_;
  int decode_threads_ = 1;  // set_decode_threads's, kept across reopen()
};

}  // namespace pydmed
