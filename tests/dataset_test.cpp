// Patient, Record, Dataset and the split helpers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "pydmed/data/dataset.hpp"
#include "pydmed/error.hpp"
#include "support.hpp"

using namespace pydmed;

namespace {

Dataset make(int n, int ones_every = 0) {
  std::vector<Patient> ps;
  for (int i = 0; i < n; ++i) {
    Patient p;
    p.int_uniqueid = 100 + i;
    p.dict_records["wsi"] = Record{"/data", "s" + std::to_string(i) + ".svs", {}};
    p.labels["class"] = ones_every > 0 && i % ones_every == 0 ? 1 : 0;
    ps.push_back(p);
  }
  return Dataset("ds", ps);
}

std::set<std::int64_t> ids(const Dataset& d) {
  std::set<std::int64_t> s;
  for (auto& p : d.list_patients) s.insert(p.int_uniqueid);
  return s;
}

const LabelFn kClass = [](const Patient& p) { return p.labels.at("class"); };

TEST(Dataset, RecordPathAndLookups) {
  const Dataset d = make(3);
  EXPECT_EQ(d.patient(101).record("wsi").path(), "/data/s1.svs");
  EXPECT_EQ((Record{"/data", "/abs/x.svs", {}}.path()), "/abs/x.svs");
  EXPECT_THROW(d.patient(5), DatasetError);
  EXPECT_THROW(d.patient(100).record("ihc"), DatasetError);
}

TEST(Dataset, DuplicateIdsAreRefused) {
  std::vector<Patient> ps(2);
  ps[0].int_uniqueid = ps[1].int_uniqueid = 7;
  try {
    Dataset d("dup", ps);
    FAIL();
  } catch (const DatasetError& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate patient id 7"), std::string::npos);
  }
}

TEST(Dataset, SplitsPutEveryPatientInExactlyOnePart) {
  for (int n : {0, 1, 7, 10, 33, 101}) {
    const Dataset d = make(n);
    const auto parts = d.splits_from({70, 15, 15}, 42);
    ASSERT_EQ(parts.size(), 3u);
    std::set<std::int64_t> all;
    std::size_t total = 0;
    for (auto& p : parts) {
      total += p.size();
      for (auto id : ids(p)) EXPECT_TRUE(all.insert(id).second) << "patient in two parts";
    }
    EXPECT_EQ(total, std::size_t(n));
    EXPECT_EQ(all, ids(d));
    // Largest-remainder sizes: each within one of the exact share.
    EXPECT_NEAR(double(parts[0].size()), 0.70 * n, 1.0);
    EXPECT_NEAR(double(parts[1].size()), 0.15 * n, 1.0);
  }
}

TEST(Dataset, SplitsAreSeeded) {
  const Dataset d = make(50);
  EXPECT_EQ(ids(d.splits_from({50, 50}, 1)[0]), ids(d.splits_from({50, 50}, 1)[0]));
  EXPECT_NE(ids(d.splits_from({50, 50}, 1)[0]), ids(d.splits_from({50, 50}, 2)[0]));
  // Input order does not matter, only the seed.
  Dataset shuffled = d;
  std::reverse(shuffled.list_patients.begin(), shuffled.list_patients.end());
  EXPECT_EQ(ids(d.splits_from({50, 50}, 1)[0]), ids(shuffled.splits_from({50, 50}, 1)[0]));
}

TEST(Dataset, PercentagesMustSumTo100) {
  const Dataset d = make(5);
  try {
    d.splits_from({60, 30}, 0);
    FAIL();
  } catch (const DatasetError& e) {
    EXPECT_NE(std::string(e.what()).find("sum to 90"), std::string::npos) << e.what();
  }
  EXPECT_THROW(d.splits_from({110, -10}, 0), DatasetError);
  EXPECT_THROW(d.labelbalanced_splits_from({50, 40}, kClass, 0), DatasetError);
  EXPECT_THROW(d.splits_from({}, 0), DatasetError);
}

TEST(Dataset, LabelBalancedSplitsKeepProportions) {
  const Dataset d = make(40, 4);  // 10 ones, 30 zeros
  const auto parts = d.labelbalanced_splits_from({50, 50}, kClass, 3);
  std::set<std::int64_t> all;
  for (auto& p : parts) {
    int ones = 0;
    for (auto& q : p.list_patients) ones += q.labels["class"].get<int>();
    EXPECT_EQ(ones, 5);
    EXPECT_EQ(p.size(), 20u);
    for (auto id : ids(p)) EXPECT_TRUE(all.insert(id).second);
  }
  EXPECT_EQ(all, ids(d));
}

TEST(Dataset, BalanceByRepeat) {
  const Dataset d = make(8, 4);                   // ids 100..107; label 1 for 100 and 104: 2 ones, 6 zeros
  const Dataset b = d.balance_by_repeat(kClass);  // lcm(2, 6) = 6 per class
  int ones = 0, zeros = 0;
  for (auto& p : b.list_patients) (p.labels["class"] == 1 ? ones : zeros)++;
  EXPECT_EQ(ones, 6);
  EXPECT_EQ(zeros, 6);
  EXPECT_EQ(ids(b).size(), 12u);                         // all ids unique
  EXPECT_EQ(b.patient(1100).infos["original_id"], 100);  // copy 1 of 100: 1 * 1000 + 100
  EXPECT_EQ(b.patient(2104).record("wsi").path(), "/data/s4.svs");
  const Dataset c = d.balance_by_repeat(kClass, 12);
  EXPECT_EQ(c.size(), 24u);
}

TEST(Dataset, CreateOneToOneScansSortedAndRecursively) {
  pydmed::test::TempDir t;
  std::filesystem::create_directories(t.file("b"));
  for (const char* f : {"z.svs", "a.svs", "b/m.svs", "note.txt", "c.ndpi"}) pydmed::test::write_file(t.file(f), "x");
  const Dataset d = Dataset::create_onetoone(
      "scan", t.path(), ".svs",
      [](const std::string& rel) {
        return nlohmann::json{{"class", rel[0] == 'a' ? 1 : 0}};
      },
      [](const std::string&) {
        return nlohmann::json{{"zoom", "40x"}};
      });
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.list_patients[0].record("wsi").relativedir, "a.svs");
  EXPECT_EQ(d.list_patients[1].record("wsi").relativedir, "b/m.svs");
  EXPECT_EQ(d.list_patients[2].record("wsi").path(), t.file("z.svs"));
  EXPECT_EQ(d.list_patients[2].int_uniqueid, 2);
  EXPECT_EQ(d.list_patients[0].labels["class"], 1);
  EXPECT_EQ(d.list_patients[1].record("wsi").dict_infos["zoom"], "40x");
  EXPECT_THROW(Dataset::create_onetoone("x", t.file("missing"), ".svs"), DatasetError);
}

TEST(Dataset, CreateOneToOneSkipsAndNamesWhatItCannotRead) {
  pydmed::test::TempDir t;
  std::filesystem::create_directories(t.file("sub"));
  for (const char* f : {"a.svs", "sub/b.svs"}) pydmed::test::write_file(t.file(f), "x");
  std::filesystem::create_symlink(t.file("loop.svs"), t.file("loop.svs"));        // a link to itself
  std::filesystem::create_symlink(t.file("gone.svs"), t.file("dangling.svs"));    // to nothing
  std::filesystem::create_symlink(t.file("sub"), t.file("sub/again"));            // a folder cycle: not followed
  std::filesystem::create_symlink(t.file("nothing.txt"), t.file("ignored.txt"));  // not a slide name: not reported
  // Without a list for them, the first such entry is an error naming it.
  try {
    Dataset::create_onetoone("scan", t.path(), ".svs");
    ADD_FAILURE() << "an unreadable entry was ignored";
  } catch (const DatasetError& e) {
    EXPECT_TRUE(e.file() == t.file("loop.svs") || e.file() == t.file("dangling.svs")) << e.what();
  }
  std::vector<std::string> skipped;
  const Dataset s = Dataset::create_onetoone(
      "scan", t.path(), [](const std::string& f) { return f.size() > 4 && f.substr(f.size() - 4) == ".svs"; }, nullptr,
      nullptr, &skipped);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.list_patients[0].record("wsi").relativedir, "a.svs");
  EXPECT_EQ(s.list_patients[1].record("wsi").relativedir, "sub/b.svs");
  std::sort(skipped.begin(), skipped.end());
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0], t.file("dangling.svs") + ": No such file or directory");
  EXPECT_EQ(skipped[1], t.file("loop.svs") + ": Too many levels of symbolic links");
  // An unreadable subfolder is named itself, not the top folder (root reads everything).
  if (geteuid() != 0) {
    std::filesystem::create_directories(t.file("locked"));
    std::filesystem::permissions(t.file("locked"), std::filesystem::perms::none);
    skipped.clear();
    Dataset::create_onetoone(
        "scan", t.path(), [](const std::string&) { return true; }, nullptr, nullptr, &skipped);
    std::filesystem::permissions(t.file("locked"), std::filesystem::perms::owner_all);
    EXPECT_NE(std::find(skipped.begin(), skipped.end(), t.file("locked") + ": Permission denied"), skipped.end());
  }
}

}  // namespace

namespace {

TEST(Dataset, ShardsAreDisjointAndCoverTheDataset) {
  const Dataset d = make(10);
  std::set<std::int64_t> all;
  for (int r = 0; r < 3; ++r) {
    const Dataset s = d.shard(r, 3);
    EXPECT_NEAR(double(s.size()), 10.0 / 3, 1.0);
    for (auto id : ids(s)) EXPECT_TRUE(all.insert(id).second);
  }
  EXPECT_EQ(all, ids(d));
  EXPECT_THROW(d.shard(3, 3), DatasetError);
  EXPECT_THROW(d.shard(0, 0), DatasetError);
}

// By id alone, 11 patients of which ids 100, 103, 106, 109 are label 1 would give rank 0 of 3
// all four of them (positions 0, 3, 6, 9); grouped by label every rank gets 1 or 2, and the
// shares still are disjoint, cover the dataset and differ by at most one patient.
TEST(Dataset, LabelBalancedShardsGiveEveryRankItsShareOfEachLabel) {
  const Dataset d = make(11, 3);
  ASSERT_EQ(d.shard(0, 3).size(), 4u);
  int ones_by_id = 0;
  for (const auto& p : d.shard(0, 3).list_patients) ones_by_id += p.labels["class"].get<int>();
  EXPECT_EQ(ones_by_id, 4) << "the case the grouping is for";
  const LabelFn label = d.common_label();
  ASSERT_TRUE(label);
  std::set<std::int64_t> all;
  for (int r = 0; r < 3; ++r) {
    const Dataset s = d.shard(r, 3, label);
    EXPECT_NEAR(double(s.size()), 11.0 / 3, 1.0);
    int ones = 0;
    for (const auto& p : s.list_patients) {
      ones += p.labels["class"].get<int>();
      EXPECT_TRUE(all.insert(p.int_uniqueid).second);
    }
    EXPECT_NEAR(double(ones), 4.0 / 3, 1.0) << "rank " << r;
    EXPECT_EQ(ids(s), ids(d.shard(r, 3, label))) << "deterministic";
  }
  EXPECT_EQ(all, ids(d));
  // No common label: two keys on one patient, or none at all.
  Dataset mixed = d;
  mixed.list_patients[0].labels["other"] = 1;
  EXPECT_FALSE(mixed.common_label());
  EXPECT_FALSE(Dataset("none", {Patient{}}).common_label());
}

}  // namespace
