#include "slide/dicom_instance.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/oflog/oflog.h>

#include <mutex>

namespace pydmed {

namespace {

constexpr const char* kJpegBaseline = "1.2.840.10008.1.2.4.50";
constexpr std::int64_t kMaxTiles = std::int64_t{1} << 24;  // 16.7 million: a 1M x 1M-pixel level of 256-pixel tiles

// DCMTK logs what it tolerates to stderr; this reader says in one line what it refuses.
void quiet_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}

std::string text(DcmItem& item, const DcmTagKey& key) {
  OFString s;
  return item.findAndGetOFStringArray(key, s).good() ? std::string(s.c_str()) : std::string();
}
std::int64_t integer(DcmItem& item, const DcmTagKey& key, std::int64_t otherwise) {
  Sint32 v = 0;
  if (item.findAndGetSint32(key, v).good()) return v;
  Uint32 u = 0;
  if (item.findAndGetUint32(key, u).good()) return std::int64_t(u);
  Uint16 s = 0;
  if (item.findAndGetUint16(key, s).good()) return s;
  return otherwise;
}

std::string name_of_uid(const std::string& uid) {
  const char* n = dcmFindNameOfUID(uid.c_str());
  return n ? std::string(n) + " (" + uid + ")" : uid;
}

// The metadata: the bytes before Pixel Data, parsed by DCMTK.
std::string parse_header(const ByteSource& src, std::uint64_t end, DcmFileFormat* ff) {
  std::vector<std::uint8_t> bytes(end);
  if (src.read_at(bytes.data(), bytes.size(), 0) != bytes.size()) return "the file ends inside its metadata";
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), offile_off_t(bytes.size()));
  in.setEos();
  ff->transferInit();
  const OFCondition c = ff->read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ff->transferEnd();
  return c.good() ? "" : std::string("DCMTK cannot parse its metadata: ") + c.text();
}

// How the frames are coded: the tile grid's codec and colour, or why they are not read.
std::string codec_of(const std::string& ts, DcmItem& ds, TileLevel* t) {
  const std::string photometric = text(ds, DCM_PhotometricInterpretation);
  if (integer(ds, DCM_SamplesPerPixel, 0) != 3 || integer(ds, DCM_BitsAllocated, 0) != 8)
    return "only 8-bit colour is read, not " + std::to_string(integer(ds, DCM_SamplesPerPixel, 0)) + " samples of " +
           std::to_string(integer(ds, DCM_BitsAllocated, 0)) + " bits (" + photometric + ")";
  if (ts == kJpegBaseline) {
    t->codec = TileLevel::Codec::kJpeg;
    t->colour = JpegColour::kAsMarked;  // as libjpeg decodes by default: what converters and viewers assume
    return "";
  }
  if (ts == UID_JPEG2000LosslessOnlyTransferSyntax || ts == UID_JPEG2000TransferSyntax) {
    // OpenJPEG undoes the codestream's own transform: RGB out for RGB, YBR_RCT and YBR_ICT.
    if (photometric != "RGB" && photometric != "YBR_RCT" && photometric != "YBR_ICT")
      return "JPEG 2000 frames are read as RGB, YBR_RCT or YBR_ICT, not " + photometric;
    t->codec = TileLevel::Codec::kJpeg2000;
    return "";
  }
  if (ts == UID_LittleEndianExplicitTransferSyntax || ts == UID_LittleEndianImplicitTransferSyntax) {
    if (photometric != "RGB" || integer(ds, DCM_PlanarConfiguration, 0) != 0)
      return "uncompressed pixels are read as interleaved RGB only, not " + photometric;
    t->codec = TileLevel::Codec::kRgb8;
    return "";
  }
  return "transfer syntax " + name_of_uid(ts) + " is not read (JPEG baseline, JPEG 2000 and uncompressed RGB are)";
}

// Each frame's tile in the grid: row-major in TILED_FULL (the first focal plane and optical path
// first), else from its PlanePositionSlide; a tile no frame covers stays missing (white).
std::string place_frames(DcmItem& ds, const std::vector<ByteRange>& frames, TileLevel* t) {
  const std::int64_t down = (t->height + t->tile_height - 1) / t->tile_height;
  const std::size_t tiles = std::size_t(t->tiles_across * down);
  t->offsets.assign(tiles, 0), t->byte_counts.assign(tiles, 0);
  auto put = [&](std::size_t tile, const ByteRange& f) {
    if (t->byte_counts[tile] != 0) return;  // a tile given twice: the first frame
    t->offsets[tile] = f.offset, t->byte_counts[tile] = std::max<std::uint64_t>(f.bytes, 1);
    t->largest_tile_bytes = std::max(t->largest_tile_bytes, f.bytes);
  };
  DcmSequenceOfItems* per_frame = nullptr;
  const bool sparse = text(ds, DCM_DimensionOrganizationType) == "TILED_SPARSE" ||
                      (text(ds, DCM_DimensionOrganizationType) != "TILED_FULL" &&
                       ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).good());
  if (!sparse) {
    if (frames.size() < tiles)
      return "TILED_FULL with " + std::to_string(frames.size()) + " frames for " + std::to_string(tiles) + " tiles";
    for (std::size_t i = 0; i < tiles; ++i) put(i, frames[i]);
    return "";
  }
  if (integer(ds, DCM_TotalPixelMatrixFocalPlanes, 1) > 1) return "sparse tiling of several focal planes is not read";
  if (!per_frame && ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).bad())
    return "TILED_SPARSE without per-frame positions";
  if (per_frame->card() != frames.size())
    return std::to_string(per_frame->card()) + " per-frame groups for " + std::to_string(frames.size()) + " frames";
  for (unsigned long i = 0; i < per_frame->card(); ++i) {
    DcmItem* position = nullptr;
    per_frame->getItem(i)->findAndGetSequenceItem(DCM_PlanePositionSlideSequence, position, 0);
    const std::int64_t col = position ? integer(*position, DCM_ColumnPositionInTotalImagePixelMatrix, 0) - 1 : -1;
    const std::int64_t row = position ? integer(*position, DCM_RowPositionInTotalImagePixelMatrix, 0) - 1 : -1;
    if (col < 0 || row < 0 || col >= t->width || row >= t->height || col % t->tile_width || row % t->tile_height)
      return "frame " + std::to_string(i + 1) + " lies off the tile grid (" + std::to_string(col + 1) + ", " +
             std::to_string(row + 1) + ")";
    put(std::size_t(row / t->tile_height * t->tiles_across + col / t->tile_width), frames[i]);
  }
  return "";
}

// The frames from the Extended Offset Table, when it has one entry a frame and describes the
// fragments exactly: one item a frame, back to back from the first after the offset table, the
// last followed by the sequence's end (its two ends read to check; the rest follows from sizes).
bool extended_offsets(const ByteSource& src, const DicomLayout& layout, DcmItem& ds, std::int64_t n,
                      std::vector<ByteRange>* out) {
  const Uint64 *offsets = nullptr, *lengths = nullptr;
  unsigned long n_offsets = 0, n_lengths = 0;
  if (ds.findAndGetUint64Array(DCM_ExtendedOffsetTable, offsets, &n_offsets).bad() ||
      ds.findAndGetUint64Array(DCM_ExtendedOffsetTableLengths, lengths, &n_lengths).bad() ||
      std::int64_t(n_offsets) != n || n_lengths != n_offsets)
    return false;
  const std::optional<ItemHeader> table = read_item_header(src, layout.items);
  if (!table || table->tag != kDicomItem) return false;
  const std::uint64_t first = layout.items + 8 + table->length;  // the first fragment's item
  std::uint64_t at = first;
  const std::uint64_t size = src.size();
  for (std::int64_t i = 0; i < n; ++i) {
    if (offsets[i] != at - first || lengths[i] > 0xFFFFFFFEu || at + 8 > size || lengths[i] > size - at - 8)
      return false;
    out->push_back({at + 8, lengths[i]});
    at += 8 + lengths[i];
  }
  const auto is_item = [&](const ByteRange& r) {
    const std::optional<ItemHeader> h = read_item_header(src, r.offset - 8);
    return h && h->tag == kDicomItem && h->length == r.bytes;
  };
  const std::optional<ItemHeader> end = read_item_header(src, at);
  return is_item(out->front()) && is_item(out->back()) && end && end->tag == kDicomSequenceEnd;
}

// Frame i's bytes: a native frame's share of Pixel Data; the Extended Offset Table's entry; or a
// fragment each (what WSI writers do).
std::string frame_ranges(const ByteSource& src, const DicomLayout& layout, DcmItem& ds, std::int64_t n,
                         std::int64_t frame_bytes, std::vector<ByteRange>* out) {
  if (n <= 0) return "no frames (NumberOfFrames " + std::to_string(n) + ")";
  if (!layout.encapsulated) {
    if (std::uint64_t(n) > layout.native.bytes / std::uint64_t(frame_bytes)) return "its Pixel Data is shorter than its frames";
    for (std::int64_t i = 0; i < n; ++i)
      out->push_back({layout.native.offset + std::uint64_t(i * frame_bytes), std::uint64_t(frame_bytes)});
    return "";
  }
  if (extended_offsets(src, layout, ds, n, out)) return "";
  out->clear();  // no table, or one that does not match the fragments: walk them
  if (std::string why = read_fragments(src, layout, out); !why.empty()) return why;
  if (std::int64_t(out->size()) != n)
    return std::to_string(n) + " frames in " + std::to_string(out->size()) +
           " fragments: frames split across fragments are not read";
  return "";
}

void add_properties(DcmItem& ds, const std::string& ts, DicomInstance* out) {
  static const DcmTagKey kKeys[] = {DCM_Manufacturer, DCM_ManufacturerModelName, DCM_SoftwareVersions,
                                    DCM_DeviceSerialNumber, DCM_StudyInstanceUID, DCM_SeriesInstanceUID,
                                    DCM_ContainerIdentifier, DCM_SeriesDescription, DCM_ImageType,
                                    DCM_DimensionOrganizationType, DCM_PhotometricInterpretation,
                                    DCM_LossyImageCompression, DCM_TotalPixelMatrixColumns, DCM_TotalPixelMatrixRows,
                                    DCM_ImagedVolumeWidth, DCM_ImagedVolumeHeight};
  for (const DcmTagKey& k : kKeys)
    if (std::string v = text(ds, k); !v.empty()) out->properties[std::string("dicom.") + DcmTag(k).getTagName()] = v;
  out->properties["dicom.TransferSyntaxUID"] = ts;
  DcmItem* path = nullptr;
  if (ds.findAndGetSequenceItem(DCM_OpticalPathSequence, path, 0).good() && path)
    if (std::string v = text(*path, DCM_ObjectiveLensPower); !v.empty()) out->properties["dicom.ObjectiveLensPower"] = v;
}

}  // namespace

bool is_wsi_sop_class(const std::string& sop_class) { return sop_class == UID_VLWholeSlideMicroscopyImageStorage; }

std::string read_dicom_instance(std::shared_ptr<const ByteSource> source, DicomInstance* out) {
  quiet_dcmtk();
  DicomLayout layout;
  const std::string why_not = read_dicom_layout(*source, &layout);
  out->sop_class = layout.sop_class;  // known from the meta group even where the rest fails
  if (!why_not.empty()) return why_not;
  DcmFileFormat ff;
  if (std::string why = parse_header(*source, layout.header_end, &ff); !why.empty()) return why;
  DcmDataset& ds = *ff.getDataset();
  out->source = std::move(source);
  if (std::string sop = text(ds, DCM_SOPClassUID); !sop.empty()) out->sop_class = sop;
  if (!is_wsi_sop_class(out->sop_class)) return "a DICOM " + name_of_uid(out->sop_class) + ", not a whole-slide image";
  out->series_uid = text(ds, DCM_SeriesInstanceUID);
  OFString flavor;
  ds.findAndGetOFString(DCM_ImageType, flavor, 2);
  out->flavor = flavor.c_str();
  TileLevel& t = out->tiles;
  out->frame_width = t.tile_width = integer(ds, DCM_Columns, 0);
  out->frame_height = t.tile_height = integer(ds, DCM_Rows, 0);
  out->width = t.width = integer(ds, DCM_TotalPixelMatrixColumns, t.tile_width);
  out->height = t.height = integer(ds, DCM_TotalPixelMatrixRows, t.tile_height);
  if (t.tile_width <= 0 || t.tile_height <= 0 || t.width <= 0 || t.height <= 0) return "no frame or matrix size";
  t.tiles_across = (t.width + t.tile_width - 1) / t.tile_width;
  // The tile tables are 16 bytes a tile: a matrix of frames beyond any slide is refused, not allocated.
  if (t.width > (std::int64_t{1} << 31) || t.height > (std::int64_t{1} << 31) ||
      t.tiles_across * ((t.height + t.tile_height - 1) / t.tile_height) > kMaxTiles)
    return "a matrix of " + std::to_string(t.width) + " x " + std::to_string(t.height) + " pixels in frames of " +
           std::to_string(t.tile_width) + " x " + std::to_string(t.tile_height) + ": too many tiles";
  if (!text(ds, DCM_ConcatenationUID).empty()) return "a level split into a concatenation is not read";
  if (std::string why = codec_of(layout.transfer_syntax, ds, &t); !why.empty()) return why;
  std::vector<ByteRange> frames;
  if (std::string why = frame_ranges(*out->source, layout, ds, integer(ds, DCM_NumberOfFrames, 1),
                                     t.tile_width * t.tile_height * 3, &frames);
      !why.empty())
    return why;
  if (std::string why = place_frames(ds, frames, &t); !why.empty()) return why;
  DcmItem *shared = nullptr, *measures = nullptr;
  Float64 row_mm = 0, col_mm = 0;
  if (ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good() && shared &&
      shared->findAndGetSequenceItem(DCM_PixelMeasuresSequence, measures, 0).good() && measures &&
      measures->findAndGetFloat64(DCM_PixelSpacing, row_mm, 0).good() &&
      measures->findAndGetFloat64(DCM_PixelSpacing, col_mm, 1).good() && row_mm > 0 && col_mm > 0) {
    out->mpp_y = row_mm * 1000.0, out->mpp_x = col_mm * 1000.0;  // mm -> um; rows are y
  }
  add_properties(ds, layout.transfer_syntax, out);
  return "";
}

}  // namespace pydmed
