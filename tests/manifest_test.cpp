// Manifests: round trip, and errors that name the file and line.
#include <gtest/gtest.h>

#include "pydmed/data/manifest.hpp"
#include "pydmed/error.hpp"
#include "support.hpp"

using namespace pydmed;
using pydmed::test::TempDir;

namespace {

void expect_error_at(const std::string& text, int line, const std::string& reason) {
  TempDir t;
  const auto p = t.file("m.csv");
  pydmed::test::write_file(p, text);
  try {
    read_manifest(p);
    ADD_FAILURE() << "no error for:\n" << text;
  } catch (const DatasetError& e) {
    EXPECT_EQ(e.file(), p);
    EXPECT_EQ(e.line(), line) << e.what();
    EXPECT_NE(std::string(e.what()).find(p + ":" + std::to_string(line) + ": "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST(Manifest, ReadsRecordsLabelsAndInfos) {
  TempDir t;
  const auto p = t.file("m.csv");
  pydmed::test::write_file(p,
                           "# dataset: cohort1\n"
                           "# a comment\n"
                           "patient_id,record:wsi,record:ihc,label:class,label:grade,recordinfo:wsi,info\n"
                           "3,slides/a.svs,,tumour,2,\"{\"\"zoom\"\": \"\"40x\"\"}\",\n"
                           "\n"
                           "5,/abs/b.ndpi,ihc/b.tiff,normal,0.5,,\"{\"\"site\"\": 1}\"\n");
  const Dataset d = read_manifest(p);
  EXPECT_EQ(d.str_dsname, "cohort1");
  ASSERT_EQ(d.size(), 2u);
  const Patient& a = d.patient(3);
  EXPECT_EQ(a.record("wsi").path(), t.file("slides/a.svs"));
  EXPECT_EQ(a.dict_records.count("ihc"), 0u);
  EXPECT_EQ(a.labels["class"], "tumour");
  EXPECT_EQ(a.labels["grade"], 2);
  EXPECT_EQ(a.record("wsi").dict_infos["zoom"], "40x");
  const Patient& b = d.patient(5);
  EXPECT_EQ(b.record("wsi").path(), "/abs/b.ndpi");
  EXPECT_EQ(b.record("ihc").path(), t.file("ihc/b.tiff"));
  EXPECT_DOUBLE_EQ(b.labels["grade"].get<double>(), 0.5);
  EXPECT_EQ(b.infos["site"], 1);
}

TEST(Manifest, RoundTrip) {
  TempDir t;
  std::vector<Patient> ps(3);
  for (int i = 0; i < 3; ++i) {
    ps[i].int_uniqueid = i * 10;
    ps[i].dict_records["wsi"] = Record{t.path(), "s, \"quoted\" " + std::to_string(i) + ".svs", {{"k", i}}};
    ps[i].labels["class"] = i % 2;
  }
  ps[1].dict_records["other"] = Record{"/elsewhere", "o.tiff", {}};
  ps[2].infos["original_id"] = 0;
  const Dataset d("round", ps);
  const auto p = t.file("m.csv");
  write_manifest(d, p);
  const Dataset back = read_manifest(p);
  EXPECT_EQ(back.str_dsname, "round");
  ASSERT_EQ(back.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const Patient& a = d.list_patients[i];
    const Patient& b = back.list_patients[i];
    EXPECT_EQ(a.int_uniqueid, b.int_uniqueid);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.infos, b.infos);
    ASSERT_EQ(a.dict_records.size(), b.dict_records.size());
    for (auto& [n, r] : a.dict_records) {
      EXPECT_EQ(r.path(), b.record(n).path());
      EXPECT_EQ(r.dict_infos, b.record(n).dict_infos);
    }
  }
}

TEST(Manifest, ErrorsNameFileAndLine) {
  expect_error_at("patient_id,label:class\n1,a\n", 1, "missing column 'record:NAME'");
  expect_error_at("record:wsi,label:class\na.svs,1\n", 1, "missing column 'patient_id'");
  expect_error_at("patient_id,record:wsi,colour\n", 1, "unknown column 'colour'");
  expect_error_at("patient_id,record:wsi\n1,a.svs\n2,b.svs\n1,c.svs\n", 4, "duplicate patient id 1");
  expect_error_at("patient_id,record:wsi\n1,a.svs,extra\n", 2, "expected 2 fields, found 3");
  expect_error_at("patient_id,record:wsi\n# c\nx1,a.svs\n", 3, "not an integer");
  expect_error_at("patient_id,record:wsi\n1,\"a.svs\n", 2, "does not close");
  expect_error_at("patient_id,record:wsi\n1,\n", 2, "has no record");
  expect_error_at("patient_id,record:wsi,info\n1,a.svs,[1]\n", 2, "not a JSON object");
  // The same column twice would silently keep the last one.
  expect_error_at("patient_id,record:wsi,record:wsi\n1,a.svs,b.svs\n", 1, "duplicate column 'record:wsi'");
  expect_error_at("patient_id,record:wsi,label:c,label:c\n", 1, "duplicate column 'label:c'");
}

TEST(Manifest, AByteOrderMarkIsNotPartOfTheFirstColumn) {
  TempDir t;
  pydmed::test::write_file(t.file("excel.csv"), "\xEF\xBB\xBFpatient_id,record:wsi,label:class\r\n7,a.svs,tumour\r\n");
  const Dataset d = read_manifest(t.file("excel.csv"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d.list_patients[0].int_uniqueid, 7);
  EXPECT_EQ(d.list_patients[0].labels["class"], "tumour");
  // Only at the start of the file: elsewhere it is a character of a field.
  expect_error_at("patient_id,record:wsi,\xEF\xBB\xBFlabel:x\n", 1, "unknown column");
}

TEST(Manifest, MissingAndEmptyFiles) {
  TempDir t;
  EXPECT_THROW(read_manifest(t.file("none.csv")), DatasetError);
  pydmed::test::write_file(t.file("e.csv"), "# only a comment\n");
  try {
    read_manifest(t.file("e.csv"));
    FAIL();
  } catch (const DatasetError& e) {
    EXPECT_NE(std::string(e.what()).find("no header"), std::string::npos);
  }
}

}  // namespace
