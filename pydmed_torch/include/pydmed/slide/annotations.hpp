#pragma once
// Hand-drawn regions of a slide, as QuPath exports them (GeoJSON): polygons with holes in
// level-0 pixels, each feature with a class. Restricts and labels what the loaders serve.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "pydmed/random.hpp"
#include "pydmed/slide/region.hpp"

namespace pydmed {

// Include: serve only what lies inside the polygons (the default). Exclude: only what lies
// outside (pen marks, folds, artefacts drawn to be avoided).
enum class RoiMode { Include, Exclude };
RoiMode parse_roi_mode(const std::string& text);  // "include" / "exclude"; OptionsError otherwise
const char* to_string(RoiMode mode);

struct AnnotationPolygon {
  std::vector<cv::Point2d> outer;  // level-0 pixels; the closing point may or may not repeat
  std::vector<std::vector<cv::Point2d>> holes;
  cv::Rect2d bounds;                        // of the outer ring
  bool contains(double x, double y) const;  // inside the outer ring and in none of its holes
  double area() const;                      // outer minus holes
};

struct Annotation {
  std::string cls;                          // properties.classification.name, else properties.name, else ""
  std::vector<AnnotationPolygon> polygons;  // one for a Polygon, several for a MultiPolygon
};

class Annotations {
 public:
  Annotations() = default;
  // A FeatureCollection, a bare list of features, or one feature. Polygon, MultiPolygon and
  // GeometryCollection geometries are read; points and lines are counted in skipped() (they
  // enclose nothing). Throws Error "PATH: feature N: reason" for what is malformed.
  static Annotations read(const std::string& path);
  static Annotations parse(const nlohmann::json& geojson, const std::string& source);
  // The regions of a mask (non-zero pixels) as polygons with holes, one feature of class `cls`;
  // a mask pixel covers downsample_x x downsample_y level-0 pixels.
  static Annotations from_mask(const cv::Mat& mask, double downsample_x, double downsample_y, const std::string& cls);
  // A FeatureCollection QuPath opens (objectType "annotation", classification.name).
  nlohmann::json to_geojson() const;
  // Outlines (holes too) drawn on a BGR picture of the slide with `scale_x` x `scale_y` picture
  // pixels per level-0 pixel, a colour per class.
  void draw(cv::Mat& bgr, double scale_x, double scale_y, int thickness = 2) const;

  bool empty() const { return features_.empty(); }
  const std::vector<Annotation>& features() const { return features_; }
  const std::vector<std::string>& classes() const { return classes_; }  // in order of first appearance
  std::size_t skipped() const { return skipped_; }
  cv::Rect2d bounds() const { return bounds_; }

  // The first feature (in file order) with a polygon containing the level-0 point, or null.
  const Annotation* at(double x, double y) const;
  // Fraction of a level region's pixels whose centre contains() puts inside a polygon (of
  // `only`, when given), for min_roi_fraction.
  double fraction_inside(const RegionInfo& region, const Annotation* only = nullptr) const;
  // The loaders' rule for a region of a level: Include serves it when its centre lies inside a
  // polygon (or, with min_fraction > 0, that fraction of its pixels), Exclude when outside. `cls`
  // gets the class served under Include: the feature at the centre, else the one covering most.
  bool serves(const RegionInfo& region, RoiMode mode, double min_fraction, const Annotation** cls = nullptr) const;
  // A level-0 point inside some polygon (of those meeting `within`, and inside it), polygons drawn
  // by area; none if nothing there has area or no point was found (very thin polygons).
  std::optional<cv::Point2d> random_point(Rng& rng, const cv::Rect2d* within = nullptr) const;

 private:
  void add(Annotation a);
  std::vector<Annotation> features_;
  std::vector<std::string> classes_;
  std::size_t skipped_ = 0;
  cv::Rect2d bounds_;
};

}  // namespace pydmed
