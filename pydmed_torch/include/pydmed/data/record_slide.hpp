#pragma once
// A record's slide, opened with what the dataset knows about it that the file may not: the
// mpp of a manifest's mpp:RECORD column (record info "mpp"), which overrides the slide's own,
// and a fallback (record info "mpp_default", e.g. from --slide-mpp) for a slide with none;
// its annotations (record info "roi": a GeoJSON file).
#include "pydmed/data/dataset.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"

namespace pydmed {

// Throws SlideError as Slide does, and DatasetError for an "mpp" info that is not a positive number.
Slide open_record_slide(const Record& record);

// The record's annotations; empty when it has none. Throws InputError naming the file when the
// file is missing or malformed.
Annotations record_annotations(const Record& record);

// The record's annotations as a loader serves them under `mode`: when the record names an
// annotation file and Include is in force, the file must hold a polygon (an empty
// FeatureCollection, or only points and lines, would serve nothing, not the whole slide) and one
// that reaches into `slide` (when given). Throws InputError naming the file. Empty (the whole
// slide) when the record has no annotation file.
Annotations record_roi(const Record& record, RoiMode mode, const Slide* slide = nullptr);

}  // namespace pydmed
