#include "pydmed/extensions/coverage.hpp"

#include "pydmed/data/record_slide.hpp"

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"
#include "pydmed/output_file.hpp"

namespace pydmed {

void CoverageRecorder::add(const std::vector<ChunkRecord>& records) {
  for (const ChunkRecord& r : records) records_[r.patient].push_back(r);
}

const std::vector<ChunkRecord>& CoverageRecorder::of(std::int64_t patient) const {
  static const std::vector<ChunkRecord> none;
  auto it = records_.find(patient);
  return it == records_.end() ? none : it->second;
}

std::vector<std::int64_t> CoverageRecorder::patients() const {
  std::vector<std::int64_t> ids;
  for (auto& [id, r] : records_) ids.push_back(id);
  return ids;
}

cv::Mat CoverageRecorder::picture(std::int64_t patient, const Slide& slide, int size, const Annotations* roi) const {
  cv::Mat rgb = slide.thumbnail(size), out;
  cv::cvtColor(rgb, out, cv::COLOR_RGB2BGR);
  const double sx = double(out.cols) / double(slide.levels()[0].width);
  const double sy = double(out.rows) / double(slide.levels()[0].height);
  for (const ChunkRecord& r : of(patient)) {
    const double ds = slide.level(r.level).downsample;
    const cv::Point a(int(double(r.x) * sx), int(double(r.y) * sy));
    const cv::Point b(int((double(r.x) + r.width * ds) * sx), int((double(r.y) + r.height * ds) * sy));
    cv::rectangle(out, a, b, cv::Scalar(40, 200, 40), 1);
  }
  if (roi) roi->draw(out, sx, sy);
  return out;
}

void CoverageRecorder::save_pngs(const std::string& dir, const Dataset& dataset, const std::string& record,
                                 int size) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
  for (auto& [id, recs] : records_) {
    const Record& r = dataset.patient(id).record(record);
    const Slide slide(r.path());
    const Annotations roi = record_annotations(r);
    const std::string path = dir + "/coverage_" + std::to_string(id) + ".png";
    write_image(path, picture(id, slide, size, roi.empty() ? nullptr : &roi));
  }
}

}  // namespace pydmed
