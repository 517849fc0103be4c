#pragma once
// Private: one instance of a DICOM whole-slide image series (Supplement 145), as the DICOM
// reader uses it: what it is (a level, a label ...), its tiling and where each frame lies. The
// metadata (the bytes before Pixel Data) is parsed by DCMTK; the frames are found by
// dicom_index, so the pixel data is never loaded.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "slide/byte_source.hpp"
#include "slide/dicom_index.hpp"
#include "slide/tile_grid.hpp"

namespace pydmed {

struct DicomInstance {
  std::shared_ptr<const ByteSource> source;
  std::string series_uid, sop_class, flavor;  // flavor: ImageType's third value (VOLUME, LABEL, OVERVIEW, THUMBNAIL)
  std::int64_t frame_width = 0, frame_height = 0;    // Columns, Rows
  std::int64_t width = 0, height = 0;                // TotalPixelMatrixColumns, -Rows
  std::optional<double> mpp_x, mpp_y;                // PixelSpacing (column, row), in um
  std::map<std::string, std::string> properties;     // dicom.*: what users ask a slide for
  TileLevel tiles;                                   // its frames as a grid (the grid's file index left 0)
};

bool is_wsi_sop_class(const std::string& sop_class);  // VL Whole Slide Microscopy Image Storage
// The instance in `source`; "" on success, else why it cannot be read (one line, without the
// path). A DICOM of another kind (a CT image, say) is read far enough to say what it is.
std::string read_dicom_instance(std::shared_ptr<const ByteSource> source, DicomInstance* out);

}  // namespace pydmed
