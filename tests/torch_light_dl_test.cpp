// The LibTorch face: make_data_loader over real slides, with 0 and 2 worker threads.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include "engine_helpers.hpp"
#include "pydmed/data/manifest.hpp"
#include "pydmed/error.hpp"
#include "pydmed/slide/annotations.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/torch/light_dl.hpp"
#include "sample_annotations.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

TEST(TorchLightDL, DataLoaderBatchesMatchReadRegion) {
  PYDMED_REQUIRE_WSI();
  const Dataset ds = real_dataset();
  for (int workers : {0, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    LightDL dl(ds, random_bigchunk_loader(test_bigchunks()),
               random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(30)),
               test_options().interval_resched(0.1), TorchOptions().label("class"));
    auto loader =
        torch::data::make_data_loader(dl, torch::data::samplers::StreamSampler(32 * 20),
                                      torch::data::DataLoaderOptions().batch_size(32).workers(std::size_t(workers)));
    std::map<std::int64_t, Slide> slides;
    int batches = 0;
    for (auto& b : *loader) {
      ++batches;
      ASSERT_EQ(b.data.sizes(), (std::vector<std::int64_t>{32, 3, 32, 32}));
      ASSERT_EQ(b.data.dtype(), torch::kUInt8);
      ASSERT_EQ(b.patients.sizes(), (std::vector<std::int64_t>{32}));
      ASSERT_EQ(b.coords.sizes(), (std::vector<std::int64_t>{32, 3}));
      ASSERT_EQ(b.labels.sizes(), (std::vector<std::int64_t>{32}));
      for (std::int64_t i = 0; i < 32; i += 7) {
        const std::int64_t id = b.patients[i].item<std::int64_t>();
        EXPECT_EQ(b.labels[i].item<std::int64_t>(), id % 2);
        auto it = slides.find(id);
        if (it == slides.end()) it = slides.emplace(id, Slide(ds.patient(id).record("wsi").path())).first;
        const cv::Mat want =
            it->second.read_region(b.coords[i][0].item<std::int64_t>(), b.coords[i][1].item<std::int64_t>(),
                                   int(b.coords[i][2].item<std::int64_t>()), 32, 32);
        // [C, H, W] back to H x W x C for the comparison.
        const torch::Tensor hwc = b.data[i].permute({1, 2, 0}).contiguous();
        ASSERT_EQ(std::memcmp(hwc.data_ptr<std::uint8_t>(), want.data, 32 * 32 * 3), 0) << "patient " << id;
        EXPECT_EQ(b.records[std::size_t(i)].patient, id);
      }
    }
    EXPECT_EQ(batches, 20);
  }
}

TEST(TorchLightDL, FiniteRunEndsTheLoop) {
  LightDL dl(sample_dataset(3), random_bigchunk_loader(test_bigchunks()),
             random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(10)),
             test_options().interval_resched(0.05), TorchOptions(), std::make_shared<HaltAfter>(4));
  auto loader = torch::data::make_data_loader(dl, dl.sampler(), torch::data::DataLoaderOptions().batch_size(16));
  std::size_t total = 0, empty = 0;
  for (auto& b : *loader) {
    total += b.size();
    empty += b.empty();
  }
  EXPECT_TRUE(dl.core().finished());
  EXPECT_EQ(total, dl.stats().produced) << "every SmallChunk, then the loop ended";
  EXPECT_LE(empty, 1u);
  // After the end, a direct request is an empty batch.
  EXPECT_TRUE(dl.get_batch(16).empty());
}

// A prefetched batch of another size (a sampler's last, shorter batch) is split or topped up,
// never dropped: every SmallChunk arrives once whatever sizes are asked, prefetching or not.
TEST(TorchLightDL, ChangingTheBatchSizeMidRunLosesNothing) {
  for (bool prefetch : {true, false}) {
    SCOPED_TRACE(prefetch ? "prefetch" : "no prefetch");
    LightDL dl(sample_dataset(4), random_bigchunk_loader(test_bigchunks()),
               random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(20)),
               test_options().interval_resched(0.05), TorchOptions().prefetch(prefetch),
               std::make_shared<HaltAfter>(6));
    const std::size_t sizes[] = {16, 5, 40, 1, 16, 33, 2};
    std::set<std::tuple<std::int64_t, std::uint32_t, std::uint32_t, std::uint64_t>> ids;
    std::size_t total = 0;
    for (std::size_t i = 0;; ++i) {
      const std::size_t want = sizes[i % 7];
      const Batch b = dl.get_batch(want);
      if (b.empty()) break;
      ASSERT_LE(b.size(), want);
      ASSERT_EQ(b.data.size(0), std::int64_t(b.size()));
      ASSERT_EQ(b.patients.size(0), std::int64_t(b.size()));
      for (std::size_t k = 0; k < b.size(); ++k) {
        const ChunkRecord& r = b.records[k];
        EXPECT_EQ(b.patients[std::int64_t(k)].item<std::int64_t>(), r.patient) << "tensors and records stay in step";
        EXPECT_TRUE(ids.insert({r.patient, r.visit, r.bigchunk_number, r.call_count}).second) << "delivered twice";
      }
      total += b.size();
    }
    EXPECT_TRUE(dl.core().finished());
    EXPECT_EQ(total, dl.stats().produced) << "none lost";
    EXPECT_EQ(total, dl.stats().delivered);
  }
}

TEST(TorchLightDL, CollateToFloatAndNormalise) {
  LightDL dl(sample_dataset(2), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(), test_options(),
             TorchOptions().collate(
                 default_collate(CollateOptions().to_float(true).mean({0.5, 0.5, 0.5}).std({0.25, 0.25, 0.25}))));
  const Batch b = dl.get_batch(8);
  ASSERT_EQ(b.size(), 8u);
  EXPECT_EQ(b.data.dtype(), torch::kFloat32);
  EXPECT_EQ(b.data.sizes(), (std::vector<std::int64_t>{8, 3, 32, 32}));
  EXPECT_LE(b.data.max().item<float>(), 2.0f + 1e-5f);
  EXPECT_GE(b.data.min().item<float>(), -2.0f - 1e-5f);
  EXPECT_THROW(default_collate(CollateOptions().mean({0.5})), Error);
  // The dataset's only label ("class") is found without being named; ids 0/1 map to 0/1.
  ASSERT_TRUE(b.labels.defined());
  for (std::size_t i = 0; i < b.size(); ++i)
    EXPECT_EQ(b.labels[std::int64_t(i)].item<std::int64_t>(),
              sample_dataset(2).patient(b.records[i].patient).labels["class"].get<std::int64_t>());
}

// Labels from the annotation class of each patch (TorchOptions::roi_classes), not the patient's.
TEST(TorchLightDL, LabelsFromAnnotationClasses) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_file(t.file("roi.geojson"), kGeoJson);
  write_file(t.file("m.csv"),
             "patient_id,record:wsi,roi:wsi,label:class\n0," + wsi("CMU-1-Small-Region.svs") + ",roi.geojson,7\n");
  const Annotations a = Annotations::read(t.file("roi.geojson"));
  LightDL dl(read_manifest(t.file("m.csv")), random_bigchunk_loader(RandomBigChunkOptions().width(512).height(512)),
             random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(10)), test_options(),
             TorchOptions().roi_classes({"Stroma", "Tumor"}));
  EXPECT_EQ(dl.label_names(), (std::vector<std::string>{"Stroma", "Tumor"}));
  std::set<std::int64_t> seen;
  for (int i = 0; i < 10; ++i) {
    const Batch b = dl.get_batch(32);
    for (std::size_t k = 0; k < b.size(); ++k) {
      const Annotation* at = a.at(double(b.records[k].x) + 16, double(b.records[k].y) + 16);
      ASSERT_NE(at, nullptr);
      EXPECT_EQ(b.labels[std::int64_t(k)].item<std::int64_t>(), at->cls == "Tumor" ? 1 : 0);
      seen.insert(b.labels[std::int64_t(k)].item<std::int64_t>());
    }
  }
  EXPECT_EQ(seen.size(), 2u);
  LightDL unknown(read_manifest(t.file("m.csv")),
                  random_bigchunk_loader(RandomBigChunkOptions().width(512).height(512)),
                  random_smallchunk_collector(RandomSmallChunkOptions().max_per_bigchunk(10)), test_options(),
                  TorchOptions().roi_classes({"Tumor"}).prefetch(false));
  bool threw = false;
  for (int i = 0; i < 20 && !threw; ++i) {
    try {
      unknown.get_batch(32);
    } catch (const Error& e) {
      threw = true;
      EXPECT_NE(std::string(e.what()).find("annotation class 'Stroma' is not in the label classes (roi_classes)"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_TRUE(threw) << "a Stroma patch in 640 draws";
}

TEST(TorchLightDL, RanksSplitThePatients) {
  std::set<std::int64_t> all;
  std::size_t total = 0;
  for (int rank = 0; rank < 3; ++rank) {
    LightDL dl(sample_dataset(6), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
               test_options().rank(rank).world_size(3));
    for (const Patient& p : dl.core().dataset().list_patients)
      EXPECT_TRUE(all.insert(p.int_uniqueid).second) << "in two ranks";
    total += dl.core().dataset().size();
    const Batch b = dl.get_batch(16);
    for (const auto& r : b.records) {
      bool mine = false;
      for (const Patient& p : dl.core().dataset().list_patients) mine |= p.int_uniqueid == r.patient;
      EXPECT_TRUE(mine) << "rank " << rank << " served patient " << r.patient;
    }
  }
  EXPECT_EQ(total, 6u);
  EXPECT_EQ(all.size(), 6u);
}

// A root that ran multithreaded torch ops and OpenCV's pool starts and stops the tree a
// hundred times without hanging.
TEST(TorchLightDL, HundredStartsAfterMultithreadedTorch) {
  torch::set_num_threads(2);
  auto a = torch::randn({512, 512});
  for (int i = 0; i < 10; ++i) a = torch::mm(a, a).tanh();
  cv::Mat big(2000, 2000, CV_8UC3), small;
  cv::resize(big, small, {500, 500});
  for (int i = 0; i < 100; ++i) {
    LightDL dl(sample_dataset(2), random_bigchunk_loader(test_bigchunks()), random_smallchunk_collector(),
               test_options());
    auto loader = torch::data::make_data_loader(dl, torch::data::samplers::StreamSampler(8),
                                                torch::data::DataLoaderOptions().batch_size(8));
    std::size_t n = 0;
    for (auto& b : *loader) n += b.size();
    ASSERT_EQ(n, 8u) << "round " << i;
    a = torch::mm(a, a).tanh();  // torch keeps working between rounds
  }
  EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
}

}  // namespace
