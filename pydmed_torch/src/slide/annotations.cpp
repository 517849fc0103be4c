#include "pydmed/slide/annotations.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "pydmed/error.hpp"

namespace pydmed {

RoiMode parse_roi_mode(const std::string& text) {
  if (text == "include") return RoiMode::Include;
  if (text == "exclude") return RoiMode::Exclude;
  throw OptionsError("roi", "'" + text + "' is neither include nor exclude");
}

const char* to_string(RoiMode mode) { return mode == RoiMode::Include ? "include" : "exclude"; }

namespace {

// Even-odd crossing test: a point on the ring's edges may count either way.
bool in_ring(const std::vector<cv::Point2d>& ring, double x, double y) {
  bool inside = false;
  for (std::size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
    const cv::Point2d& a = ring[i];
    const cv::Point2d& b = ring[j];
    if ((a.y > y) != (b.y > y) && x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

double ring_area(const std::vector<cv::Point2d>& ring) {
  double twice = 0;
  for (std::size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++)
    twice += ring[j].x * ring[i].y - ring[i].x * ring[j].y;
  return std::abs(twice) / 2;
}

cv::Rect2d bounds_of(const std::vector<cv::Point2d>& ring) {
  double x0 = ring[0].x, y0 = ring[0].y, x1 = x0, y1 = y0;
  for (const auto& q : ring)
    x0 = std::min(x0, q.x), y0 = std::min(y0, q.y), x1 = std::max(x1, q.x), y1 = std::max(y1, q.y);
  return cv::Rect2d(x0, y0, x1 - x0, y1 - y0);
}

// Where the horizontal line at `y` crosses the ring, by in_ring's rule (so a pixel centre is
// inside exactly when contains() says so).
void crossings(const std::vector<cv::Point2d>& ring, double y, std::vector<double>& out) {
  for (std::size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
    const cv::Point2d& a = ring[i];
    const cv::Point2d& b = ring[j];
    if ((a.y > y) != (b.y > y)) out.push_back((b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x);
  }
}

// What a malformed feature is reported as.
struct FeatureError {
  std::string reason;
};

std::vector<cv::Point2d> parse_ring(const nlohmann::json& ring) {
  if (!ring.is_array()) throw FeatureError{"a ring is not a list of positions"};
  std::vector<cv::Point2d> pts;
  for (const auto& p : ring) {
    if (!p.is_array() || p.size() < 2 || !p[0].is_number() || !p[1].is_number())
      throw FeatureError{"a position is not [x, y]: " + p.dump().substr(0, 60)};
    const double x = p[0].get<double>(), y = p[1].get<double>();
    if (!std::isfinite(x) || !std::isfinite(y)) throw FeatureError{"a position is not finite"};
    pts.emplace_back(x, y);
  }
  if (pts.size() > 1 && pts.front() == pts.back()) pts.pop_back();  // GeoJSON closes its rings
  std::vector<cv::Point2d> distinct = pts;
  std::sort(distinct.begin(), distinct.end(),
            [](const cv::Point2d& a, const cv::Point2d& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.size() < 3) throw FeatureError{"a ring has fewer than 3 distinct positions"};
  std::vector<cv::Point2f> f(pts.begin(), pts.end());
  if (cv::contourArea(f) <= 0) throw FeatureError{"a ring encloses no area (its positions lie on one line)"};
  return pts;
}

AnnotationPolygon parse_polygon(const nlohmann::json& rings) {
  if (!rings.is_array() || rings.empty()) throw FeatureError{"a polygon has no rings"};
  AnnotationPolygon p;
  p.outer = parse_ring(rings[0]);
  for (std::size_t i = 1; i < rings.size(); ++i) p.holes.push_back(parse_ring(rings[i]));
  p.bounds = bounds_of(p.outer);
  return p;
}

// Appends the geometry's polygons; returns false for one that encloses nothing (point, line).
bool parse_geometry(const nlohmann::json& g, std::vector<AnnotationPolygon>& out, int depth = 0) {
  if (!g.is_object() || !g.contains("type") || !g["type"].is_string()) throw FeatureError{"the geometry has no type"};
  const std::string type = g["type"].get<std::string>();
  if (type == "GeometryCollection") {
    if (depth > 8) throw FeatureError{"GeometryCollections nested more than 8 deep"};
    if (!g.contains("geometries") || !g["geometries"].is_array())
      throw FeatureError{"a GeometryCollection without geometries"};
    bool any = false;
    for (const auto& sub : g["geometries"]) any |= parse_geometry(sub, out, depth + 1);
    return any;
  }
  if (type != "Polygon" && type != "MultiPolygon") {
    if (type == "Point" || type == "MultiPoint" || type == "LineString" || type == "MultiLineString") return false;
    throw FeatureError{"unknown geometry type '" + type + "'"};
  }
  if (!g.contains("coordinates") || !g["coordinates"].is_array())
    throw FeatureError{"the " + type + " has no coordinates"};
  if (type == "Polygon") {
    out.push_back(parse_polygon(g["coordinates"]));
  } else {
    if (g["coordinates"].empty()) throw FeatureError{"a MultiPolygon with no polygons"};
    for (const auto& poly : g["coordinates"]) out.push_back(parse_polygon(poly));
  }
  return true;
}

std::string class_of(const nlohmann::json& feature) {
  const auto props = feature.find("properties");
  if (props == feature.end() || !props->is_object()) return "";
  if (const auto c = props->find("classification"); c != props->end() && c->is_object()) {
    if (const auto n = c->find("name"); n != c->end() && n->is_string()) return n->get<std::string>();
  }
  if (const auto n = props->find("name"); n != props->end() && n->is_string()) return n->get<std::string>();
  return "";
}

}  // namespace

bool AnnotationPolygon::contains(double x, double y) const {
  if (x < bounds.x || y < bounds.y || x > bounds.x + bounds.width || y > bounds.y + bounds.height) return false;
  if (!in_ring(outer, x, y)) return false;
  for (const auto& h : holes)
    if (in_ring(h, x, y)) return false;
  return true;
}

double AnnotationPolygon::area() const {
  double a = ring_area(outer);
  for (const auto& h : holes) a -= ring_area(h);
  return std::max(0.0, a);
}

Annotations Annotations::parse(const nlohmann::json& geojson, const std::string& source) {
  const nlohmann::json* features = &geojson;
  nlohmann::json one;
  if (geojson.is_object()) {
    const auto t = geojson.find("type");
    const std::string type = t != geojson.end() && t->is_string() ? t->get<std::string>() : "";
    if (type == "FeatureCollection") {
      if (!geojson.contains("features") || !geojson["features"].is_array())
        throw Error(source + ": a FeatureCollection without a list of features");
      features = &geojson["features"];
    } else if (type == "Feature") {
      one = nlohmann::json::array({geojson});
      features = &one;
    } else {
      throw Error(source + ": not GeoJSON features (type '" + type +
                  "'; a FeatureCollection, a Feature or a list of them)");
    }
  } else if (!geojson.is_array()) {
    throw Error(source + ": not GeoJSON features (a FeatureCollection, a Feature or a list of them)");
  }
  Annotations a;
  for (std::size_t i = 0; i < features->size(); ++i) {
    const nlohmann::json& f = (*features)[i];
    try {
      if (!f.is_object() || !f.contains("geometry")) throw FeatureError{"not a feature with a geometry"};
      Annotation ann;
      ann.cls = class_of(f);
      if (f["geometry"].is_null() || !parse_geometry(f["geometry"], ann.polygons)) {
        ++a.skipped_;
        continue;
      }
      a.add(std::move(ann));
    } catch (const FeatureError& e) {
      std::string name = class_of(f);
      throw Error(source + ": feature " + std::to_string(i) + (name.empty() ? "" : " ('" + name + "')") + ": " +
                  e.reason);
    } catch (const nlohmann::json::exception& e) {
      throw Error(source + ": feature " + std::to_string(i) + ": " + e.what());
    }
  }
  return a;
}

void Annotations::add(Annotation ann) {
  for (const auto& p : ann.polygons) bounds_ |= p.bounds;  // an empty rectangle takes the other
  if (std::find(classes_.begin(), classes_.end(), ann.cls) == classes_.end()) classes_.push_back(ann.cls);
  features_.push_back(std::move(ann));
}

Annotations Annotations::from_mask(const cv::Mat& mask, double dx, double dy, const std::string& cls) {
  cv::Mat1b bin = mask != 0;
  std::vector<std::vector<cv::Point>> contours;
  std::vector<cv::Vec4i> tree;  // next, previous, first child, parent
  // Two levels: outer boundaries, and the holes inside them (islands in holes are outer again).
  cv::findContours(bin, contours, tree, cv::RETR_CCOMP, cv::CHAIN_APPROX_SIMPLE);
  auto ring = [&](const std::vector<cv::Point>& c) {
    std::vector<cv::Point2d> r;
    for (const auto& q : c) r.emplace_back((q.x + 0.5) * dx, (q.y + 0.5) * dy);  // pixel centres, level 0
    return r;
  };
  Annotation ann;
  ann.cls = cls;
  for (std::size_t i = 0; i < contours.size(); ++i) {
    if (tree[i][3] >= 0 || contours[i].size() < 3) continue;  // a hole, or a sliver with no area
    AnnotationPolygon p;
    p.outer = ring(contours[i]);
    for (int h = tree[i][2]; h >= 0; h = tree[std::size_t(h)][0])
      if (contours[std::size_t(h)].size() >= 3) p.holes.push_back(ring(contours[std::size_t(h)]));
    p.bounds = bounds_of(p.outer);
    ann.polygons.push_back(std::move(p));
  }
  Annotations a;
  if (!ann.polygons.empty()) a.add(std::move(ann));
  return a;
}

nlohmann::json Annotations::to_geojson() const {
  auto ring = [](const std::vector<cv::Point2d>& r) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& q : r) out.push_back({q.x, q.y});
    out.push_back({r.front().x, r.front().y});  // GeoJSON rings are closed
    return out;
  };
  nlohmann::json features = nlohmann::json::array();
  for (const Annotation& a : features_) {
    nlohmann::json polys = nlohmann::json::array();
    for (const AnnotationPolygon& p : a.polygons) {
      nlohmann::json rings = nlohmann::json::array({ring(p.outer)});
      for (const auto& h : p.holes) rings.push_back(ring(h));
      polys.push_back(std::move(rings));
    }
    features.push_back({{"type", "Feature"},
                        {"geometry", {{"type", "MultiPolygon"}, {"coordinates", std::move(polys)}}},
                        {"properties", {{"objectType", "annotation"}, {"classification", {{"name", a.cls}}}}}});
  }
  return {{"type", "FeatureCollection"}, {"features", std::move(features)}};
}

void Annotations::draw(cv::Mat& bgr, double sx, double sy, int thickness) const {
  static const cv::Scalar kPalette[] = {{0, 0, 230},   {230, 120, 0}, {0, 180, 0},
                                        {200, 0, 200}, {0, 200, 220}, {120, 60, 0}};
  constexpr int kShift = 3;  // sub-pixel vertices
  auto ring = [&](const std::vector<cv::Point2d>& r) {
    std::vector<cv::Point> pts;
    for (const auto& q : r)
      pts.emplace_back(int(std::lround(q.x * sx * (1 << kShift))), int(std::lround(q.y * sy * (1 << kShift))));
    return pts;
  };
  for (const Annotation& a : features_) {
    const auto k = std::size_t(std::find(classes_.begin(), classes_.end(), a.cls) - classes_.begin());
    std::vector<std::vector<cv::Point>> rings;
    for (const AnnotationPolygon& p : a.polygons) {
      rings.push_back(ring(p.outer));
      for (const auto& h : p.holes) rings.push_back(ring(h));
    }
    cv::polylines(bgr, rings, true, kPalette[k % std::size(kPalette)], thickness, cv::LINE_AA, kShift);
  }
}

Annotations Annotations::read(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a folder, not a GeoJSON file of annotations");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open annotations: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not JSON: " + e.what());
  }
  return parse(j, path);
}

const Annotation* Annotations::at(double x, double y) const {
  for (const Annotation& a : features_)
    for (const AnnotationPolygon& p : a.polygons)
      if (p.contains(x, y)) return &a;
  return nullptr;
}

double Annotations::fraction_inside(const RegionInfo& r, const Annotation* only) const {
  if (r.width <= 0 || r.height <= 0) return 0;
  // Row by row through the pixel centres: the crossings of each polygon's rings (outer and holes
  // together: even-odd) bound the runs of centres inside it.
  const double ds = r.downsample > 0 ? r.downsample : 1;
  const cv::Rect2d reg(double(r.x), double(r.y), double(r.width) * ds, double(r.height) * ds);
  std::vector<std::uint8_t> row(std::size_t(r.width));
  std::vector<double> xs;
  std::int64_t inside = 0;
  for (std::int64_t j = 0; j < r.height; ++j) {
    const double y = reg.y + (double(j) + 0.5) * ds;
    std::fill(row.begin(), row.end(), 0);
    for (const Annotation& a : features_) {
      if (only && &a != only) continue;
      for (const AnnotationPolygon& p : a.polygons) {
        if (y < p.bounds.y || y > p.bounds.y + p.bounds.height || (p.bounds & reg).area() <= 0) continue;
        xs.clear();
        crossings(p.outer, y, xs);
        for (const auto& h : p.holes) crossings(h, y, xs);
        std::sort(xs.begin(), xs.end());
        for (std::size_t k = 0; k + 1 < xs.size(); k += 2) {
          // Centres x0 + (i + 0.5) ds in [xs[k], xs[k+1]).
          const auto first = std::max<std::int64_t>(0, std::int64_t(std::ceil((xs[k] - reg.x) / ds - 0.5)));
          const auto last = std::min<std::int64_t>(r.width, std::int64_t(std::ceil((xs[k + 1] - reg.x) / ds - 0.5)));
          for (std::int64_t i = first; i < last; ++i) row[std::size_t(i)] = 1;
        }
      }
    }
    inside += std::count(row.begin(), row.end(), std::uint8_t(1));
  }
  return double(inside) / (double(r.width) * double(r.height));
}

bool Annotations::serves(const RegionInfo& r, RoiMode mode, double min_fraction, const Annotation** cls) const {
  const double ds = r.downsample > 0 ? r.downsample : 1;
  const Annotation* at_centre = at(double(r.x) + double(r.width) * ds / 2, double(r.y) + double(r.height) * ds / 2);
  const bool include = mode == RoiMode::Include;
  bool served = include == (at_centre != nullptr);
  const Annotation* best = at_centre;
  if (min_fraction > 0) {
    const double f = fraction_inside(r);
    served = (include ? f : 1 - f) >= min_fraction;
    if (served && include && !best) {  // inside by area, not by its centre: the class covering most of it
      double most = 0;
      for (const Annotation& a : features_)
        if (const double fa = fraction_inside(r, &a); fa > most) most = fa, best = &a;
    }
  }
  if (cls) *cls = include ? best : nullptr;
  return served;
}

std::optional<cv::Point2d> Annotations::random_point(Rng& rng, const cv::Rect2d* within) const {
  std::vector<const AnnotationPolygon*> polys;
  std::vector<double> cumulative;
  double total = 0;
  for (const Annotation& a : features_)
    for (const AnnotationPolygon& p : a.polygons) {
      const cv::Rect2d box = within ? (p.bounds & *within) : p.bounds;
      if (const double area = p.area(); area > 0 && box.area() > 0)
        total += area, polys.push_back(&p), cumulative.push_back(total);
    }
  if (polys.empty()) return std::nullopt;
  for (int attempt = 0; attempt < 16; ++attempt) {
    const double pick = rng.uniform() * total;
    const std::size_t k =
        std::size_t(std::upper_bound(cumulative.begin(), cumulative.end(), pick) - cumulative.begin());
    const AnnotationPolygon& p = *polys[std::min(k, polys.size() - 1)];
    const cv::Rect2d box = within ? (p.bounds & *within) : p.bounds;
    // Rejection in the (clipped) bounding box; a thin diagonal polygon fills little of it.
    for (int tries = 0; tries < 256; ++tries) {
      const double x = box.x + rng.uniform() * box.width, y = box.y + rng.uniform() * box.height;
      if (p.contains(x, y)) return cv::Point2d(x, y);
    }
  }
  return std::nullopt;
}

}  // namespace pydmed
