#pragma once
// Manifest files: a Dataset as CSV, one line per patient.
//
//   # dataset: cohort1                 <- optional; '#' lines are comments, this one names it
//   patient_id,record:wsi,label:class,recordinfo:wsi,info
//   0,slides/a.svs,tumour,"{""magnification"": ""40x""}",
//   1,/abs/path/b.ndpi,normal,,
//
// Columns: `patient_id` (required, a unique integer); `record:NAME` (at least one: a path,
// relative to the manifest's folder unless absolute; an empty cell means the patient has no
// such record); `label:NAME` (integer, number or text; empty means absent); `recordinfo:NAME`
// and `info` (JSON objects, optional). Errors name the file and line.
#include <string>

#include "pydmed/data/dataset.hpp"

namespace pydmed {

Dataset read_manifest(const std::string& path);
void write_manifest(const Dataset& dataset, const std::string& path);

}  // namespace pydmed
