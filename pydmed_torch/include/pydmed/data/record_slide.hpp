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

// The record's annotations; empty when it has none. Throws Error naming the file when the
// file is missing or malformed.
Annotations record_annotations(const Record& record);

}  // namespace pydmed
