#pragma once
// Annotations shared by the tests (pydmed_tests and pydmed_torch_tests).
namespace pydmed::test {

// On CMU-1-Small-Region.svs (2220 x 2967): a square with a square hole ("Tumor"), and a
// MultiPolygon of a triangle and a square ("Stroma", named by properties.name), and a point.
inline const char* kGeoJson = R"({"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]}},
   "geometry": {"type": "Polygon", "coordinates": [[[200, 200], [1200, 200], [1200, 1200], [200, 1200], [200, 200]],
                                                   [[500, 500], [900, 500], [900, 900], [500, 900], [500, 500]]]}},
  {"type": "Feature", "properties": {"name": "Stroma"},
   "geometry": {"type": "MultiPolygon", "coordinates": [[[[1400, 1800], [2000, 1800], [1700, 2600], [1400, 1800]]],
                                                        [[[100, 2000], [600, 2000], [600, 2500], [100, 2500], [100, 2000]]]]}},
  {"type": "Feature", "properties": {"name": "a point"}, "geometry": {"type": "Point", "coordinates": [5, 5]}}
]})";

}  // namespace pydmed::test
