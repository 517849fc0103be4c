// Stain normalisation and augmentation against the maths: a known stain matrix comes back from
// an image synthesised with it, a reference normalised to itself barely changes, Reinhard
// matches the target's LAB statistics, and the transforms run in the collectors.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "engine_helpers.hpp"
#include "pydmed/engine/stain.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/slide.hpp"
#include "support.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

cv::Vec3d unit(double a, double b, double c) { return cv::normalize(cv::Vec3d(a, b, c)); }

// Pixels OD = cH * H + cE * E: some nearly pure haematoxylin, some nearly pure eosin, most mixed.
cv::Mat synthesise(const cv::Vec3d& h, const cv::Vec3d& e, std::uint64_t seed) {
  Rng rng(seed);
  cv::Mat out(128, 128, CV_8UC3);
  for (int y = 0; y < out.rows; ++y)
    for (int x = 0; x < out.cols; ++x) {
      const double kind = rng.uniform();
      double ch = 0.3 + 1.2 * rng.uniform(), ce = 0.3 + 1.2 * rng.uniform();
      if (kind < 0.2)
        ce = 0.02 * rng.uniform();
      else if (kind < 0.4)
        ch = 0.02 * rng.uniform(), ce = 2.5 + 0.5 * rng.uniform();
      const cv::Vec3d od = h * ch + e * ce;
      for (int c = 0; c < 3; ++c)
        out.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<std::uint8_t>(256 * std::exp(-od[c]) - 1);
    }
  return out;
}

double cosine(const cv::Matx32d& m, int col, const cv::Vec3d& v) {
  return m(0, col) * v[0] + m(1, col) * v[1] + m(2, col) * v[2];
}

TEST(Stain, MacenkoFindsTheStainMatrixAnImageWasMadeWith) {
  const cv::Vec3d h = unit(0.65, 0.70, 0.29), e = unit(0.07, 0.99, 0.11);
  const stain::MacenkoFit fit = stain::fit_macenko(synthesise(h, e, 1));
  EXPECT_GT(cosine(fit.stains, 0, h), 0.995) << "haematoxylin first";
  EXPECT_GT(cosine(fit.stains, 1, e), 0.995);
  // Another matrix, to show it is not the defaults coming back.
  const cv::Vec3d h2 = unit(0.50, 0.80, 0.33), e2 = unit(0.15, 0.95, 0.27);
  const stain::MacenkoFit fit2 = stain::fit_macenko(synthesise(h2, e2, 2));
  EXPECT_GT(cosine(fit2.stains, 0, h2), 0.995);
  EXPECT_GT(cosine(fit2.stains, 1, e2), 0.995);
  // Normalising the second image to the first's stains: its colours are then the first's.
  const cv::Mat moved = stain::normalize_macenko(synthesise(h2, e2, 3), fit);
  const stain::MacenkoFit again = stain::fit_macenko(moved);
  EXPECT_GT(cosine(again.stains, 0, h), 0.99);
  EXPECT_GT(cosine(again.stains, 1, e), 0.99);
  // Too little tissue to fit: an error; as a transform, left as it is.
  const cv::Mat white(64, 64, CV_8UC3, cv::Scalar(250, 250, 250));
  EXPECT_THROW(stain::fit_macenko(white), Error);
  EXPECT_EQ(cv::norm(stain::normalize_macenko(white, fit), white, cv::NORM_INF), 0);
  // One colour (a pen mark, a dark flat region): two stains cannot be told apart; left as it is.
  for (const cv::Scalar colour : {cv::Scalar(20, 20, 20), cv::Scalar(40, 60, 140)}) {
    cv::Mat flat(64, 64, CV_8UC3, colour), noisy = flat.clone();
    cv::randu(noisy, colour - cv::Scalar::all(2), colour + cv::Scalar::all(2));
    EXPECT_EQ(cv::norm(stain::normalize_macenko(flat, fit), flat, cv::NORM_INF), 0);
    EXPECT_EQ(cv::norm(stain::normalize_macenko(noisy, fit), noisy, cv::NORM_INF), 0);
  }
}

TEST(Stain, NormalisingAReferenceToItselfIsCloseToTheIdentity) {
  PYDMED_REQUIRE_WSI();
  const cv::Mat ref = Slide(wsi("CMU-1-Small-Region.svs")).read_region(600, 600, 0, 512, 512);
  const cv::Mat self = stain::normalize_macenko(ref, stain::fit_macenko(ref));
  cv::Mat diff;
  cv::absdiff(self, ref, diff);
  EXPECT_LT(cv::mean(diff)[0], 3.0) << "mean absolute difference, in levels of 255";
  const cv::Mat r = stain::normalize_reinhard(ref, stain::fit_reinhard(ref));
  cv::absdiff(r, ref, diff);
  EXPECT_LT(cv::mean(diff)[0], 1.0);
}

TEST(Stain, ReinhardMatchesTheTargetsLabStatistics) {
  PYDMED_REQUIRE_WSI();
  const Slide s(wsi("CMU-1-Small-Region.svs"));
  const cv::Mat source = s.read_region(600, 600, 0, 512, 512);
  // The target: the same tissue as another scanner might render it, less blue, a little more red.
  cv::Mat target = source.clone();
  target.forEach<cv::Vec3b>([](cv::Vec3b& p, const int*) {
    p[0] = cv::saturate_cast<std::uint8_t>(p[0] * 1.05), p[2] = cv::saturate_cast<std::uint8_t>(p[2] * 0.9);
  });
  const stain::ReinhardFit want = stain::fit_reinhard(target);
  const stain::ReinhardFit got = stain::fit_reinhard(stain::normalize_reinhard(source, want));
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(got.mean[std::size_t(c)], want.mean[std::size_t(c)], 1.0) << "channel " << c;
    EXPECT_NEAR(got.std[std::size_t(c)], want.std[std::size_t(c)], 0.05 * want.std[std::size_t(c)] + 0.5)
        << "channel " << c;
  }
}

TEST(Stain, HedJitterIsSeededAndScalesTheStains) {
  PYDMED_REQUIRE_WSI();
  const cv::Mat img = Slide(wsi("CMU-1-Small-Region.svs")).read_region(600, 600, 0, 128, 128);
  Rng a(5), b(5), none(1);
  const cv::Mat ja = stain::hed_jitter(img, 0.2, 0.05, a), jb = stain::hed_jitter(img, 0.2, 0.05, b);
  EXPECT_EQ(cv::norm(ja, jb, cv::NORM_INF), 0) << "the same draws, the same image";
  EXPECT_GT(cv::norm(ja, img, cv::NORM_L1) / double(img.total()), 1.0) << "and it changes the colours";
  EXPECT_LE(cv::norm(stain::hed_jitter(img, 0, 0, none), img, cv::NORM_INF), 1)
      << "no jitter: the image (rounding aside)";
  // A pixel made of haematoxylin alone, jittered: its OD stays along the H vector (scaled).
  const cv::Matx33d m = stain::hed_stains();
  cv::Mat h_only(8, 8, CV_8UC3);
  for (int c = 0; c < 3; ++c)
    h_only.forEach<cv::Vec3b>(
        [&](cv::Vec3b& p, const int*) { p[c] = cv::saturate_cast<std::uint8_t>(256 * std::exp(-1.2 * m(0, c)) - 1); });
  Rng only_scale(9);
  const cv::Vec3b j = stain::hed_jitter(h_only, 0.3, 0.0, only_scale).at<cv::Vec3b>(0, 0);
  cv::Vec3d od;
  for (int c = 0; c < 3; ++c) od[c] = -std::log((j[c] + 1.0) / 256.0);
  EXPECT_GT(cv::normalize(od).dot(cv::Vec3d(m(0, 0), m(0, 1), m(0, 2))), 0.999);
  EXPECT_THROW(transforms::hed_jitter(-0.1, 0), OptionsError);
}

// Fitted in the root, applied in the collectors: each delivered patch is its region normalised.
TEST(Stain, TransformsRunInTheCollectorsWithTheRootsFit) {
  PYDMED_REQUIRE_WSI();
  const Slide s(wsi("CMU-1-Small-Region.svs"));
  const stain::MacenkoFit fit = stain::fit_macenko(s.read_region(600, 600, 0, 512, 512));
  Dataset ds("one", {});
  Patient p;
  p.dict_records["wsi"] = Record{"", wsi("CMU-1-Small-Region.svs"), nlohmann::json::object()};
  ds.list_patients.push_back(p);
  LightDLCore dl(ds, random_bigchunk_loader(test_bigchunks()),
                 random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(5)),
                 test_options().transform(transforms::macenko(fit)));
  const Delivered d = consume(dl, 40);
  ASSERT_EQ(d.records.size(), 40u);
  for (std::size_t i = 0; i < d.records.size(); ++i) {
    const cv::Mat want = stain::normalize_macenko(s.read_region(d.records[i].x, d.records[i].y, 0, 32, 32), fit);
    ASSERT_EQ(std::memcmp(want.data, d.pixels[i].data(), want.total() * 3), 0) << "patch " << i;
  }
}

}  // namespace
