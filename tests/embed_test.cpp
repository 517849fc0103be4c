// pydmed embed: TorchScript features of every tissue window into CLAM/TRIDENT-style HDF5 files,
// checked against the model run directly on the slide's pixels; resumed after SIGKILL; bad
// models and outputs refused in one line.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pydmed/extensions/feature_file.hpp"
#include "pydmed/slide/slide.hpp"
#include "pydmed/slide/tissue_mask.hpp"
#include "support.hpp"

using namespace pydmed;
using namespace pydmed::test;

namespace {

const std::string kCli = PYDMED_CLI;

// A small TorchScript embedder that every pixel of the window's corner and its colour
// statistics reach: [B, 3, K, K] -> [B, 16].
void write_model(const std::string& path, const std::string& body = "") {
  torch::jit::Module m("Embedder");
  torch::manual_seed(7);
  m.register_parameter("w", torch::randn({3 + 3 + 3 * 8 * 8, 16}), false);
  m.define(body.empty() ? R"(
def forward(self, x):
    c = x[:, :, 0:8, 0:8].flatten(1)
    return torch.cat([x.mean([2, 3]), x.std([2, 3]), c], 1).matmul(self.w)
)"
                        : body);
  m.save(path);
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string f; std::getline(in, f, sep);) out.push_back(f);
  return out;
}

TEST(Embed, FeaturesAreTheModelOnEachWindowInWindowOrder) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_model(t.file("m.pt"));
  const std::string slide = wsi("CMU-1-Small-Region.svs");
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " embed " + slide + " --model " + t.file("m.pt") + " --out " + t.file("f") +
                            " --mpp 0.5 --kernel 64 --min-tissue 0 --batch 32",
                        &out, &err),
            0)
      << err;
  const FeatureFile f = FeatureFile::read(t.file("f/CMU-1-Small-Region.h5"));
  EXPECT_EQ(f.dim, 16);
  // The same windows, in the same order, as pydmed sliding-window lists them.
  ASSERT_EQ(
      run_command(kCli + " sliding-window " + slide + " --mpp 0.5 --kernel 64 --stride 64 --out " + t.file("w.tsv"),
                  &out, &err),
      0)
      << err;
  std::istringstream tsv(read_file(t.file("w.tsv")));
  std::string line;
  std::getline(tsv, line);  // header
  std::vector<std::int64_t> want;
  while (std::getline(tsv, line)) {
    const auto c = split(line, '\t');
    want.push_back(std::stoll(c[1]));
    want.push_back(std::stoll(c[2]));
  }
  ASSERT_EQ(f.coords, want) << "coords: every window once, in window order";
  // Attributes MIL tools and a later reader need.
  EXPECT_EQ(f.attributes.value("mpp", 0.0), 0.5);
  EXPECT_EQ(f.attributes.value("kernel", 0), 64);
  EXPECT_EQ(f.attributes.value("stride", 0), 64);
  EXPECT_EQ(f.attributes.value("model_sha256", "").size(), 64u);
  EXPECT_FALSE(f.attributes.value("pydmed_version", "").empty());
  EXPECT_TRUE(f.attributes.contains("level"));
  // Sampled windows: the model run directly on read_region_at_mpp of the same coordinates.
  torch::jit::Module m = torch::jit::load(t.file("m.pt"));
  const Slide s(slide);
  const auto mean = torch::tensor({0.485, 0.456, 0.406}, torch::kFloat).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.229, 0.224, 0.225}, torch::kFloat).view({1, 3, 1, 1});
  for (std::int64_t r = 0; r < f.rows; r += std::max<std::int64_t>(1, f.rows / 25)) {
    cv::Mat px = s.read_region_at_mpp(f.coords[std::size_t(2 * r)], f.coords[std::size_t(2 * r + 1)], 0.5, 64, 64);
    auto x = torch::from_blob(px.data, {1, 64, 64, 3}, torch::kUInt8).permute({0, 3, 1, 2}).to(torch::kFloat) / 255;
    const auto y = m.forward({(x - mean) / std}).toTensor();
    const auto got = torch::from_blob(const_cast<float*>(&f.features[std::size_t(r * 16)]), {1, 16});
    EXPECT_TRUE(torch::allclose(y, got, 1e-4, 1e-4)) << "row " << r << ": " << y << " vs " << got;
  }
  // h5dump (hdf5-tools) sees the layout CLAM and TRIDENT read.
  ASSERT_EQ(run_command("h5dump -H " + t.file("f/CMU-1-Small-Region.h5"), &out, &err), 0) << err;
  const std::string n = std::to_string(f.rows);
  EXPECT_NE(out.find("DATASET \"features\""), std::string::npos) << out;
  EXPECT_NE(out.find("( " + n + ", 16 )"), std::string::npos) << out;
  EXPECT_NE(out.find("DATASET \"coords\""), std::string::npos) << out;
  EXPECT_NE(out.find("( " + n + ", 2 )"), std::string::npos) << out;
  EXPECT_NE(out.find("H5T_IEEE_F32LE"), std::string::npos) << out;
  EXPECT_NE(out.find("H5T_STD_I64LE"), std::string::npos) << out;
}

// --min-tissue keeps exactly the windows with that much tissue (the loader's TissueMask).
TEST(Embed, MinTissueKeepsExactlyTheTissueWindows) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_model(t.file("m.pt"));
  const std::string slide = wsi("CMU-1-Small-Region.svs");
  std::string out, err;
  const std::string cmd = kCli + " embed " + slide + " --model " + t.file("m.pt") + " --kernel 64 --min-tissue ";
  ASSERT_EQ(run_command(cmd + "0 --out " + t.file("all"), &out, &err), 0) << err;
  ASSERT_EQ(run_command(cmd + "0.6 --out " + t.file("tissue"), &out, &err), 0) << err;
  const FeatureFile all = FeatureFile::read(t.file("all/CMU-1-Small-Region.h5"));
  const FeatureFile tissue = FeatureFile::read(t.file("tissue/CMU-1-Small-Region.h5"));
  const TissueMask mask(Slide(slide), min_tissue_mask_options());
  std::vector<std::int64_t> want;
  std::vector<float> want_features;
  for (std::int64_t r = 0; r < all.rows; ++r) {
    const std::int64_t x = all.coords[std::size_t(2 * r)], y = all.coords[std::size_t(2 * r + 1)];
    if (mask.fraction(x, y, 64, 64) < 0.6) continue;
    want.insert(want.end(), {x, y});
    want_features.insert(want_features.end(), all.features.begin() + r * 16, all.features.begin() + (r + 1) * 16);
  }
  ASSERT_GT(want.size(), 0u);
  ASSERT_LT(want.size(), all.coords.size()) << "the slide has background";
  EXPECT_EQ(tissue.coords, want);
  EXPECT_EQ(tissue.features, want_features);
  EXPECT_EQ(tissue.attributes.value("min_tissue", 0.0), 0.6);
}

// What the state file says was committed (bytes of rows, over every slide).
std::uint64_t committed_rows(const std::string& state) {
  const auto j = nlohmann::json::parse(read_file(state), nullptr, false);
  std::uint64_t n = 0;
  if (!j.is_object()) return 0;
  for (const auto& [id, bytes] : j["outputs"].items()) n += bytes.get<std::uint64_t>();
  for (const auto& [id, s] : j["progress"]["slides"].items()) n += 1000000 * s.value("done", false);
  return n;
}

TEST(Embed, KilledMidSlideAndResumedGivesTheUninterruptedFiles) {
  TempDir t;
  write_model(t.file("m.pt"));
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 3 --size 3072", &out, &err), 0)
      << err;
  const std::string base = kCli + " embed " + t.file("slides") + " --model " + t.file("m.pt") +
                           " --kernel 32 --min-tissue 0 --batch 64 --collectors 1 --out ";
  ASSERT_EQ(run_command(base + t.file("whole"), &out, &err), 0) << err;
  // Killed (SIGKILL) each time it has committed more, four times; then left to finish.
  const std::string state = t.file("state.json");
  const StoppedRuns runs = run_with_stops(
      base + t.file("resumed") + " --state " + state + " --state-every 0.01 2>>" + t.file("err.txt"),
      [&] { return std::ifstream(state).good() ? committed_rows(state) : 0; }, 4, /*interrupts=*/false);
  ASSERT_EQ(runs.status, 0) << read_file(t.file("err.txt"));
  EXPECT_GE(runs.stops, 2);
  for (int p = 0; p < 3; ++p) {
    const std::string name = "/slide_00" + std::to_string(p) + ".h5";
    SCOPED_TRACE(name);
    const FeatureFile a = FeatureFile::read(t.file("whole") + name), b = FeatureFile::read(t.file("resumed") + name);
    ASSERT_EQ(a.rows, b.rows);
    EXPECT_EQ(a.coords, b.coords) << "every window once, in window order";
    EXPECT_EQ(a.attributes, b.attributes);
    EXPECT_TRUE(a.features == b.features) << "the model saw the same batches";
    EXPECT_TRUE(read_file(t.file("whole") + name) == read_file(t.file("resumed") + name)) << "byte for byte";
  }
  // Run again once finished: ends at once (a hang becomes timeout's 124), every file untouched.
  const std::string before = read_file(t.file("resumed/slide_002.h5"));
  const auto stamp = std::filesystem::last_write_time(t.file("resumed/slide_002.h5"));
  ASSERT_EQ(run_command("timeout 120 " + base + t.file("resumed") + " --state " + state, &out, &err), 0) << err;
  EXPECT_TRUE(read_file(t.file("resumed/slide_002.h5")) == before);
  EXPECT_EQ(std::filesystem::last_write_time(t.file("resumed/slide_002.h5")), stamp);
  // A finished slide whose file was deleted since is made again, whole.
  std::filesystem::remove(t.file("resumed/slide_001.h5"));
  ASSERT_EQ(run_command(base + t.file("resumed") + " --state " + state, &out, &err), 0) << err;
  EXPECT_EQ(FeatureFile::read(t.file("resumed/slide_001.h5")).coords,
            FeatureFile::read(t.file("whole/slide_001.h5")).coords);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(t.file("resumed")), {}), 4)
      << "three feature files and index.tsv: no partial files left";
  EXPECT_TRUE(std::filesystem::exists(t.file("resumed/index.tsv")));
}

// A DICOM series (the slide's JPEG tiles rewrapped by dicomize) embeds as its source does: the
// same windows, tissue and features, in a file named after the series' folder.
TEST(Embed, ADicomSeriesEmbedsAsItsSourceSlide) {
  PYDMED_REQUIRE_WSI();
  TempDir t;
  write_model(t.file("m.pt"));
  const std::string slide = wsi("CMU-1-Small-Region.svs");
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " dicomize " + slide + " " + t.file("cases/case_7") + " --quiet", &out, &err), 0) << err;
  const std::string flags = " --model " + t.file("m.pt") + " --mpp 0.5 --kernel 64 --min-tissue 0.2 --batch 32";
  ASSERT_EQ(run_command(kCli + " embed " + slide + " --out " + t.file("svs") + flags, &out, &err), 0) << err;
  ASSERT_EQ(run_command(kCli + " embed " + t.file("cases") + " --out " + t.file("dcm") + flags, &out, &err), 0) << err;
  const FeatureFile a = FeatureFile::read(t.file("svs/CMU-1-Small-Region.h5"));
  const FeatureFile b = FeatureFile::read(t.file("dcm/case_7.h5"));
  ASSERT_GT(a.rows, 0);
  EXPECT_EQ(a.coords, b.coords);
  EXPECT_EQ(a.features, b.features);
}

TEST(Embed, BadModelsAndOutputsAreOneLine) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 1 --size 512", &out, &err), 0);
  const std::string base = kCli + " embed " + t.file("slides") + " --kernel 32 --out " + t.file("f") + " --model ";
  auto lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  write_file(t.file("junk.pt"), "not a model");
  EXPECT_EQ(run_command(base + t.file("junk.pt"), &out, &err), 1);
  EXPECT_NE(err.find("junk.pt: cannot load it as a TorchScript module"), std::string::npos) << err;
  EXPECT_EQ(lines(err), 1) << err;
  write_model(t.file("rank0.pt"), "\ndef forward(self, x):\n    return x.mean()\n");
  EXPECT_EQ(run_command(base + t.file("rank0.pt"), &out, &err), 1);
  EXPECT_NE(err.find("rank0.pt: returned [] for a batch of 1 windows; expected [1, D]"), std::string::npos) << err;
  write_model(t.file("shape.pt"), "\ndef forward(self, x):\n    return x.view(-1, 3 * 224 * 224)\n");
  EXPECT_EQ(run_command(base + t.file("shape.pt"), &out, &err), 1);
  EXPECT_NE(err.find("shape.pt: fails on a float [1, 3, 32, 32] batch"), std::string::npos) << err;
  EXPECT_NE(err.find("is invalid for input of size 3072"), std::string::npos) << "the model's reason: " << err;
  EXPECT_EQ(lines(err), 1) << err;
  // An output folder that cannot be made: refused before any slide is read.
  write_model(t.file("m.pt"));
  write_file(t.file("file"), "x");
  EXPECT_EQ(run_command(kCli + " embed " + t.file("slides") + " --model " + t.file("m.pt") + " --out " +
                            t.file("file") + "/sub",
                        &out, &err),
            1);
  EXPECT_NE(err.find(t.file("file") + "/sub: cannot create the folder"), std::string::npos) << err;
}

// Progress (issue 28), not on a terminal: a line per finished slide with the rows its file holds,
// and the JSON file's counts at the end.
TEST(Embed, SaysEachFinishedSlide) {
  TempDir t;
  write_model(t.file("m.pt"));
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 2 --size 1024", &out, &err), 0);
  ASSERT_EQ(run_command(kCli + " embed " + t.file("slides") + " --model " + t.file("m.pt") +
                            " --kernel 64 --min-tissue 0 --out " + t.file("f") + " --progress-json " + t.file("p.json"),
                        &out, &err),
            0)
      << err;
  std::int64_t all = 0;
  for (int p = 0; p < 2; ++p) {
    const std::string name = "slide_00" + std::to_string(p);
    const std::int64_t rows = FeatureFile::read(t.file("f/" + name + ".h5")).rows;
    all += rows;
    const std::string want =
        "finished " + t.file("slides/" + name + ".tiff") + ": " + std::to_string(rows) + " windows in ";
    EXPECT_NE(err.find(want), std::string::npos) << want << "\n" << err;
  }
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;
  const auto j = nlohmann::json::parse(read_file(t.file("p.json")));
  EXPECT_EQ(j["slides_done"], 2);
  EXPECT_EQ(j["items_done"], all);
}

// The report: one JSON line on stdout (rank, world size, the slides written, their windows) and
// index.tsv in the output folder, whose hashes are the features' float32 bytes.
TEST(Embed, ReportsOnStdoutAndInIndexTsv) {
  TempDir t;
  write_model(t.file("m.pt"));
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 2 --size 1024", &out, &err), 0);
  const std::string cmd = kCli + " embed " + t.file("slides") + " --model " + t.file("m.pt") +
                          " --kernel 64 --min-tissue 0 --out " + t.file("f") + " --state " + t.file("s.json");
  ASSERT_EQ(run_command(cmd, &out, &err), 0) << err;
  const auto line = nlohmann::json::parse(out);
  EXPECT_EQ(line["rank"], 0);
  EXPECT_EQ(line["world_size"], 1);
  EXPECT_EQ(line["slides"], nlohmann::json({"slide_000", "slide_001"}));
  std::istringstream index(read_file(t.file("f/index.tsv")));
  std::string row;
  std::getline(index, row);
  EXPECT_EQ(row, "slide\tfile\twindows\tdim\tfeatures_sha256");
  std::int64_t windows = 0;
  for (const std::string name : {"slide_000", "slide_001"}) {
    ASSERT_TRUE(std::getline(index, row));
    const FeatureFile f = FeatureFile::read(t.file("f/" + name + ".h5"));
    windows += f.rows;
    EXPECT_EQ(split(row, '\t'), (std::vector<std::string>{name, name + ".h5", std::to_string(f.rows),
                                                           std::to_string(f.dim),
                                                           pydmed::test::sha256_hex(f.features.data(),
                                                                                    f.features.size() * 4)}));
  }
  EXPECT_EQ(line["windows"], windows);
  ASSERT_EQ(run_command(cmd, &out, &err), 0) << err;  // resumed: nothing left to write
  EXPECT_EQ(nlohmann::json::parse(out)["slides"], nlohmann::json::array());
  EXPECT_NE(read_file(t.file("f/index.tsv")).find("slide_001.h5"), std::string::npos);
  std::filesystem::create_directories(t.file("mine"));
  write_file(t.file("mine/index.tsv"), "my own notes\n");  // a user's file of that name: never replaced
  EXPECT_EQ(run_command(kCli + " embed " + t.file("slides") + " --model " + t.file("m.pt") +
                            " --kernel 64 --min-tissue 0 --out " + t.file("mine"),
                        &out, &err),
            1);
  EXPECT_NE(err.find("index.tsv: exists and is not an index this tool wrote"), std::string::npos) << err;
  EXPECT_EQ(read_file(t.file("mine/index.tsv")), "my own notes\n");
}

// Two ranks (RANK/WORLD_SIZE, as torchrun sets them) share the slides: each slide written once,
// by one rank, the files those of one process (index.tsv's hashes the same).
TEST(EmbedRanks, TwoRanksWriteEverySlideOnceAsOneProcessDoes) {
  TempDir t;
  write_model(t.file("m.pt"));
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 5 --size 1024", &out, &err), 0);
  const std::string flags = " --model " + t.file("m.pt") + " --kernel 64 --min-tissue 0 --quiet --out ";
  ASSERT_EQ(run_command(kCli + " embed " + t.file("slides") + flags + t.file("one"), &out, &err), 0) << err;
  ASSERT_EQ(run_command(std::string("PYDMED_EMBED=") + PYDMED_EMBED + " EMBED_LOGS=" + t.file("logs") + " timeout 300 " +
                            PYDMED_EMBED_RANKS + " 2 " + t.file("slides") + flags + t.file("two") + " --timeout 60",
                        &out, &err),
            0)
      << err << read_file(t.file("logs/embed_rank0.log")) << read_file(t.file("logs/embed_rank1.log"));
  EXPECT_EQ(read_file(t.file("two/index.tsv")), read_file(t.file("one/index.tsv")));
  std::multiset<std::string> wrote;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["world_size"], 2);
    for (const auto& s : j["slides"]) wrote.insert(s.get<std::string>());
  }
  EXPECT_EQ(wrote, (std::multiset<std::string>{"slide_000", "slide_001", "slide_002", "slide_003", "slide_004"}));
  EXPECT_FALSE(std::filesystem::exists(t.file("two/.ranks"))) << "no claim folder left";
}

// Jobs whose ranks are killed: 4 generated 3072-pixel slides, embedded by one process into
// one/ first; returns the command line of a rank of two writing two/ (the script sets RANK and
// MASTER_PORT=$port).
const std::string kKillableFlags = " --kernel 32 --min-tissue 0 --quiet --collectors 1 --out ";
std::string killable_job(TempDir& t, const std::string& rank_flags) {
  write_model(t.file("m.pt"));
  std::string out, err;
  EXPECT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 4 --size 3072", &out, &err), 0);
  const std::string flags = " --model " + t.file("m.pt") + kKillableFlags;
  EXPECT_EQ(run_command(kCli + " embed " + t.file("slides") + flags + t.file("one"), &out, &err), 0) << err;
  return std::string(" WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port ") + PYDMED_EMBED + " " +
         t.file("slides") + flags + t.file("two") + rank_flags;
}
// A free port from the kernel, for the script's ranks.
const std::string kFreePort =
    "port=$(python3 -c \"import socket; s=socket.socket(); s.bind((\\\"127.0.0.1\\\", 0)); print(s.getsockname()[1])\"); ";
// Waits (up to 30 s) until both ranks hold a slide: two claim folders.
std::string both_at_work(TempDir& t) {
  return "for i in $(seq 600); do [ $(ls " + t.file("two/.ranks") +
         " 2>/dev/null | wc -l) -ge 2 ] && break; sleep 0.05; done; ";
}

// A rank killed with SIGKILL while it works: the other redoes its slide after the lease and the
// job's files are whole and the same as one process's.
TEST(EmbedRanks, ARankKilledMidSlideLosesItToTheOther) {
  TempDir t;
  const std::string rank = killable_job(t, " --lease 1 --timeout 5");
  // Rank 1 is killed once both ranks hold a slide (two claim folders); rank 0 finishes the job.
  const std::string script = kFreePort + "RANK=0" + rank + " >" + t.file("r0.out") + " 2>" + t.file("r0.log") +
                             " & r0=$!; " + "RANK=1" + rank + " >/dev/null 2>" + t.file("r1.log") + " & r1=$!; " +
                             both_at_work(t) + "kill -9 $r1; wait $r0";
  std::string out, err;
  ASSERT_EQ(run_command("timeout 300 bash -c '" + script + "'", &out, &err), 0) << read_file(t.file("r0.log"));
  EXPECT_EQ(read_file(t.file("two/index.tsv")), read_file(t.file("one/index.tsv")));
  for (int p = 0; p < 4; ++p) {
    const std::string name = "/slide_00" + std::to_string(p) + ".h5";
    EXPECT_TRUE(read_file(t.file("one") + name) == read_file(t.file("two") + name)) << name;
  }
}

// Rank 0 (the job's store) killed: the other rank ends non-zero in one line; the same command
// again finishes the job, the files those of one process.
TEST(EmbedRanks, RankZeroKilledEndsTheJobAndTheSameCommandFinishesIt) {
  TempDir t;
  const std::string rank = killable_job(t, " --lease 1 --timeout 20");
  // Both ranks at work, then rank 0 killed; rank 1's status is the script's.
  const std::string script = kFreePort + "RANK=0" + rank + " >/dev/null 2>/dev/null & r0=$!; " + "RANK=1" + rank +
                             " >/dev/null 2>" + t.file("r1.log") + " & r1=$!; " + both_at_work(t) +
                             "kill -9 $r0; wait $r1";
  std::string out, err;
  EXPECT_EQ(run_command("timeout 120 bash -c '" + script + "'", &out, &err), 1);
  const std::string said = read_file(t.file("r1.log"));
  EXPECT_NE(said.find("the job's store (rank 0 at 127.0.0.1:"), std::string::npos) << said;
  EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 1) << said;
  ASSERT_EQ(run_command(std::string("PYDMED_EMBED=") + PYDMED_EMBED + " EMBED_LOGS=" + t.file("logs") + " timeout 300 " +
                            PYDMED_EMBED_RANKS + " 2 " + t.file("slides") + " --model " + t.file("m.pt") + kKillableFlags + t.file("two") +
                            " --timeout 60",
                        &out, &err),
            0)
      << err;
  EXPECT_EQ(read_file(t.file("two/index.tsv")), read_file(t.file("one/index.tsv")));
}

// Features no model trained on them could use: refused in one line, no file written.
TEST(Embed, NonFiniteEmptyOrHugeFeaturesAreRefused) {
  TempDir t;
  std::string out, err;
  ASSERT_EQ(run_command(kCli + " make-sample-slides " + t.file("slides") + " --count 1 --size 512", &out, &err), 0);
  const std::string base =
      kCli + " embed " + t.file("slides") + " --kernel 32 --min-tissue 0 --out " + t.file("f") + " --model ";
  auto lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  // NaN on every window but the all-zero probe the model is first tried on.
  write_model(t.file("nan.pt"), "\ndef forward(self, x):\n    m = x.mean([2, 3])\n    return m / (m - m)\n");
  EXPECT_EQ(run_command(base + t.file("nan.pt"), &out, &err), 1);
  EXPECT_NE(err.find("nan.pt: returned NaN or infinite features for " + t.file("slides/slide_000.tiff") +
                     ", window at (0, 0)"),
            std::string::npos)
      << err;
  EXPECT_FALSE(std::filesystem::exists(t.file("f/slide_000.h5")));
  write_model(t.file("m.pt"));
  EXPECT_EQ(run_command(base + t.file("m.pt") + " --std 0.2 0 0.2", &out, &err), 1);
  EXPECT_NE(err.find("std: must be finite numbers > 0"), std::string::npos) << err;
  write_model(t.file("empty.pt"), "\ndef forward(self, x):\n    return x.mean([2, 3])[:, 0:0]\n");
  EXPECT_EQ(run_command(base + t.file("empty.pt"), &out, &err), 1);
  EXPECT_NE(err.find("empty.pt: returns 0 features a window"), std::string::npos) << err;
  EXPECT_EQ(run_command(base + t.file("m.pt") + " --max-dim 8", &out, &err), 1);
  EXPECT_NE(err.find("m.pt: returns 16 features a window, more than the 8 taken"), std::string::npos) << err;
  EXPECT_EQ(lines(err), 1) << err;
}

}  // namespace
