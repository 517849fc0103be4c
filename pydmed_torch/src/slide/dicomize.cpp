#include "pydmed/slide/dicomize.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcvrov.h>
#include <openslide/openslide.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"
#include "slide/byte_source.hpp"
#include "slide/tiff_pyramid.hpp"

namespace fs = std::filesystem;

namespace pydmed {

namespace {

struct Frame {
  std::vector<std::uint8_t> bytes;
  std::int64_t col = 0, row = 0;  // its tile's place in the grid
};

// One instance to write: its kind, its grid and its frames.
struct Instance {
  std::string flavor = "VOLUME";  // ImageType's third value
  bool original = false;
  std::int64_t width = 0, height = 0, tile_width = 0, tile_height = 0;
  double mpp_x = 0, mpp_y = 0;  // 0: unknown
  bool jpeg = false;
  std::string photometric = "RGB";
  bool sparse = false;
  std::vector<Frame> frames;
};

struct SeriesIds {
  std::string study, series, frame_of_reference, container;
};

std::string new_uid(const char* root) {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, root);
}

// A DS value: the most significant digits that fit its 16 characters.
std::string decimal(double v) {
  for (int digits = 15; digits > 1; --digits) {
    char s[40];
    std::snprintf(s, sizeof s, "%.*g", digits, v);
    if (std::strlen(s) <= 16) return s;
  }
  return "0";
}

void check(const OFCondition& c, const std::string& file) {
  if (c.bad()) throw Error(file + ": cannot write: " + c.text());
}

// An Adobe APP14 marker with transform 0: the components are RGB, not YCbCr (libjpeg and the
// DICOM readers that follow it decode a three-component JPEG without one as YCbCr).
constexpr std::uint8_t kAdobeRgb[] = {0xFF, 0xEE, 0x00, 0x0E, 'A', 'd', 'o', 'b', 'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00};

// A TIFF tile as a JPEG of its own: SOI, the Adobe marker for RGB tiles, the level's tables
// (JPEGTables without its SOI and EOI), then the tile after its SOI.
std::vector<std::uint8_t> whole_jpeg(const std::vector<std::uint8_t>& tables, const std::vector<std::uint8_t>& tile,
                                     bool rgb) {
  if (tile.size() < 4 || tile[0] != 0xFF || tile[1] != 0xD8) return {};  // not a JPEG stream: the caller refuses
  std::vector<std::uint8_t> out = {0xFF, 0xD8};
  if (rgb) out.insert(out.end(), std::begin(kAdobeRgb), std::end(kAdobeRgb));
  if (tables.size() >= 4) out.insert(out.end(), tables.begin() + 2, tables.end() - 2);
  out.insert(out.end(), tile.begin() + 2, tile.end());
  return out;
}

void put_common(DcmDataset& ds, const Instance& in, const SeriesIds& ids) {
  ds.putAndInsertString(DCM_SOPClassUID, UID_VLWholeSlideMicroscopyImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, new_uid(SITE_INSTANCE_UID_ROOT).c_str());
  ds.putAndInsertString(DCM_StudyInstanceUID, ids.study.c_str());
  ds.putAndInsertString(DCM_SeriesInstanceUID, ids.series.c_str());
  ds.putAndInsertString(DCM_FrameOfReferenceUID, ids.frame_of_reference.c_str());
  ds.putAndInsertString(DCM_Modality, "SM");
  ds.putAndInsertString(DCM_Manufacturer, "pydmed_torch");
  ds.putAndInsertString(DCM_ContainerIdentifier, ids.container.c_str());
  ds.putAndInsertString(DCM_SeriesNumber, "1");
  const std::string type = std::string(in.original ? "ORIGINAL\\PRIMARY\\" : "DERIVED\\PRIMARY\\") + in.flavor +
                           (in.original || in.flavor != "VOLUME" ? "\\NONE" : "\\RESAMPLED");
  ds.putAndInsertString(DCM_ImageType, type.c_str());
  ds.putAndInsertUint16(DCM_Rows, Uint16(in.tile_height));
  ds.putAndInsertUint16(DCM_Columns, Uint16(in.tile_width));
  ds.putAndInsertUint32(DCM_TotalPixelMatrixColumns, Uint32(in.width));
  ds.putAndInsertUint32(DCM_TotalPixelMatrixRows, Uint32(in.height));
  ds.putAndInsertUint32(DCM_TotalPixelMatrixFocalPlanes, 1);
  ds.putAndInsertUint32(DCM_NumberOfOpticalPaths, 1);
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 3);
  ds.putAndInsertString(DCM_PhotometricInterpretation, in.photometric.c_str());
  ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  ds.putAndInsertUint16(DCM_BitsAllocated, 8);
  ds.putAndInsertUint16(DCM_BitsStored, 8);
  ds.putAndInsertUint16(DCM_HighBit, 7);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds.putAndInsertString(DCM_LossyImageCompression, in.jpeg ? "01" : "00");
  ds.putAndInsertString(DCM_NumberOfFrames, std::to_string(in.frames.size()).c_str());
  ds.putAndInsertString(DCM_DimensionOrganizationType, in.sparse ? "TILED_SPARSE" : "TILED_FULL");
  ds.putAndInsertString(DCM_VolumetricProperties, "VOLUME");
  ds.putAndInsertString(DCM_SpecimenLabelInImage, in.flavor == "LABEL" || in.flavor == "OVERVIEW" ? "YES" : "NO");
  if (in.mpp_x > 0 && in.mpp_y > 0) {
    DcmItem *shared = nullptr, *measures = nullptr;
    ds.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
    shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, measures, 0);
    const std::string spacing = decimal(in.mpp_y / 1000.0) + "\\" + decimal(in.mpp_x / 1000.0);  // mm: rows, columns
    measures->putAndInsertString(DCM_PixelSpacing, spacing.c_str());
    ds.putAndInsertString(DCM_ImagedVolumeWidth, decimal(double(in.width) * in.mpp_x / 1000.0).c_str());
    ds.putAndInsertString(DCM_ImagedVolumeHeight, decimal(double(in.height) * in.mpp_y / 1000.0).c_str());
  }
  if (in.sparse) {
    for (const Frame& f : in.frames) {
      DcmItem *item = nullptr, *position = nullptr;
      ds.findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, item, -2);  // -2: a new item at the end
      item->findOrCreateSequenceItem(DCM_PlanePositionSlideSequence, position, 0);
      position->putAndInsertSint32(DCM_ColumnPositionInTotalImagePixelMatrix, Sint32(f.col * in.tile_width + 1));
      position->putAndInsertSint32(DCM_RowPositionInTotalImagePixelMatrix, Sint32(f.row * in.tile_height + 1));
    }
  }
}

void write_instance(const Instance& in, const SeriesIds& ids, const std::string& path) {
  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  put_common(ds, in, ids);
  E_TransferSyntax ts = EXS_LittleEndianExplicit;
  if (in.jpeg) {
    ts = EXS_JPEGProcess1;
    auto* seq = new DcmPixelSequence(DcmTag(DCM_PixelData, EVR_OB));
    seq->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB)));  // an empty Basic Offset Table
    // An Extended Offset Table: readers find every frame without walking the fragments (nor
    // the 4 GiB bound of the basic one). Offsets from the first fragment's item; even lengths.
    std::vector<Uint64> offsets, lengths;
    Uint64 at = 0;
    for (const Frame& f : in.frames) {
      std::vector<std::uint8_t> even = f.bytes;
      if (even.size() % 2) even.push_back(0);  // after the EOI marker: decoders stop before it
      auto* item = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
      item->putUint8Array(even.data(), Uint32(even.size()));
      seq->insert(item);
      offsets.push_back(at), lengths.push_back(even.size());
      at += 8 + even.size();
    }
    auto* table = new DcmOther64bitVeryLong(DcmTag(DCM_ExtendedOffsetTable, EVR_OV));
    auto* sizes = new DcmOther64bitVeryLong(DcmTag(DCM_ExtendedOffsetTableLengths, EVR_OV));
    table->putUint64Array(offsets.data(), offsets.size());
    sizes->putUint64Array(lengths.data(), lengths.size());
    ds.insert(table, true), ds.insert(sizes, true);
    auto* pixels = new DcmPixelData(DCM_PixelData);
    pixels->putOriginalRepresentation(ts, nullptr, seq);
    ds.insert(pixels, true);
  } else {
    std::uint64_t bytes = 0;
    for (const Frame& f : in.frames) bytes += f.bytes.size();
    if (bytes > 0xFFFFFFFEu)  // one Pixel Data value: its length is 32 bits
      throw Error(path + ": cannot write: " + std::to_string(bytes) +
                  " bytes of uncompressed frames, more than one instance holds (4 GiB)");
    std::vector<std::uint8_t> all;
    all.reserve(bytes);
    for (const Frame& f : in.frames) all.insert(all.end(), f.bytes.begin(), f.bytes.end());
    check(ds.putAndInsertUint8Array(DCM_PixelData, all.data(), Uint32(all.size())), path);
  }
  const std::string part = path + ".part";
  check(ff.saveFile(part.c_str(), ts, EET_ExplicitLength, EGL_recalcGL, EPD_noChange), path);
  std::error_code ec;
  fs::rename(part, path, ec);
  if (ec) throw Error(path + ": cannot write: " + ec.message());
}

bool pure_white(const cv::Mat& rgb) {
  return cv::countNonZero(rgb.reshape(1) != 255) == 0;
}

// Level `level`'s frames: the TIFF's JPEG tiles as they are, or (native) its pixels decoded.
Instance level_instance(const Slide& slide, const TiffPyramid* tiff, int level, const DicomizeOptions& o) {
  const LevelInfo& info = slide.levels()[std::size_t(level)];
  Instance in;
  in.original = level == 0;
  in.width = info.width, in.height = info.height;
  in.mpp_x = slide.mpp_x().value_or(0) * info.downsample, in.mpp_y = slide.mpp_y().value_or(0) * info.downsample;
  in.sparse = o.tiling() == "sparse";
  const TileLevel* L = tiff ? &tiff->tiff_levels[std::size_t(level)] : nullptr;
  const auto [tw, th] = slide.tile_size(level);
  in.tile_width = L ? L->tile_width : (tw > 0 ? tw : 256);
  in.tile_height = L ? L->tile_height : (th > 0 ? th : 256);
  in.jpeg = !o.native();
  in.photometric = in.jpeg && L->colour == JpegColour::kYCbCr ? "YBR_FULL_422" : "RGB";
  const std::shared_ptr<const ByteSource> file = in.jpeg ? open_source(slide.path()) : nullptr;
  const std::int64_t across = (in.width + in.tile_width - 1) / in.tile_width;
  const std::int64_t down = (in.height + in.tile_height - 1) / in.tile_height;
  for (std::int64_t r = 0; r < down; ++r) {
    for (std::int64_t c = 0; c < across; ++c) {
      const auto x0 = std::int64_t(double(c * in.tile_width) * info.downsample);
      const auto y0 = std::int64_t(double(r * in.tile_height) * info.downsample);
      Frame f{{}, c, r};
      const std::size_t index = std::size_t(r * across + c);
      const bool missing = in.jpeg && L->byte_counts[index] == 0;
      if (missing || o.native() || o.omit_white()) {
        const cv::Mat rgb = slide.read_region(x0, y0, level, in.tile_width, in.tile_height);
        if (o.omit_white() && pure_white(rgb)) continue;
        if (missing) throw SlideError(slide.path(), "a tile missing from level " + std::to_string(level) +
                                                         ": write it --native, or --tiling sparse --omit-white");
        if (o.native()) f.bytes.assign(rgb.data, rgb.data + rgb.total() * 3);
      }
      if (in.jpeg) {
        std::vector<std::uint8_t> tile(L->byte_counts[index]);
        if (file->read_at(tile.data(), tile.size(), L->offsets[index]) != tile.size())
          throw SlideError(slide.path(), "the file ends inside a tile of level " + std::to_string(level));
        f.bytes = whole_jpeg(L->jpeg_tables, tile, L->colour == JpegColour::kRgb);
        if (f.bytes.empty())
          throw SlideError(slide.path(), "a tile of level " + std::to_string(level) + " is not a JPEG stream");
      }
      in.frames.push_back(std::move(f));
    }
  }
  if (in.sparse) std::shuffle(in.frames.begin(), in.frames.end(), std::mt19937_64(o.seed() + std::uint64_t(level)));
  return in;
}

void prepare_folder(const std::string& out_dir) {
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec)))
    throw Error(out_dir + ": exists and is not an empty folder: dicomize writes a series into a new one");
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(out_dir + ": cannot make the folder: " + ec.message());
}

}  // namespace

std::vector<std::string> dicomize(const std::string& path, const std::string& out_dir, const DicomizeOptions& o) {
  if (o.tiling() != "full" && o.tiling() != "sparse") throw OptionsError("tiling", "must be full or sparse");
  if (o.omit_white() && o.tiling() != "sparse") throw OptionsError("omit_white", "needs sparse tiling");
  Slide slide(path);
  TiffPyramid tiff;
  if (!o.native()) {  // the JPEG tiles themselves: only what the exact tile reader reads
    const std::string why = slide.reader() != "tiff" ? "its levels are not JPEG tiles the tile reader reads"
                                                     : read_tiff_pyramid(open_source(path), slide.vendor(), false, tiff);
    if (!why.empty())
      throw SlideError(path, "cannot be rewrapped as DICOM without re-encoding (" + why +
                                 "; --native stores its decoded pixels)");
  }
  prepare_folder(out_dir);
  const SeriesIds ids{new_uid(SITE_STUDY_UID_ROOT), new_uid(SITE_SERIES_UID_ROOT), new_uid(SITE_INSTANCE_UID_ROOT),
                      fs::path(path).stem().string()};
  std::vector<std::string> written;
  for (int level = 0; level < slide.level_count(); ++level) {
    const std::string file = (fs::path(out_dir) / ("level-" + std::to_string(level) + ".dcm")).string();
    write_instance(level_instance(slide, o.native() ? nullptr : &tiff, level, o), ids, file);
    written.push_back(file);
  }
  static const std::pair<const char*, const char*> kAssociated[] = {
      {"label", "LABEL"}, {"macro", "OVERVIEW"}, {"thumbnail", "THUMBNAIL"}};
  const std::vector<std::string> names = slide.associated_image_names();
  for (const auto& [name, flavor] : kAssociated) {
    if (std::find(names.begin(), names.end(), name) == names.end()) continue;
    const cv::Mat rgb = slide.read_associated_image(name);
    Instance in;
    in.flavor = flavor, in.original = true;
    in.width = in.tile_width = rgb.cols, in.height = in.tile_height = rgb.rows;
    in.frames.push_back({std::vector<std::uint8_t>(rgb.data, rgb.data + rgb.total() * 3), 0, 0});
    const std::string file = (fs::path(out_dir) / (std::string(name) + ".dcm")).string();
    write_instance(in, ids, file);
    written.push_back(file);
  }
  return written;
}

}  // namespace pydmed
