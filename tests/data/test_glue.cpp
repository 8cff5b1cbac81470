// GLUE readers on synthetic files in the exact GLUE layouts (tests/fixtures/data/glue):
// every task's train file, dev files, unlabeled test files, CoLA's headerless files,
// literal quotes, a BOM, columns found by name, and the label order of HF's glue.
#include <catch2/catch.hpp>

#include "spt/core/error.h"
#include "spt/data/glue.h"
#include "tests/data/data_test_util.h"

namespace {

using namespace spt::data;
using spt::test::data_fixture;

TextDataset glue(GlueTask t, const std::string& rel, ReadOptions opt = {}) {
  return read_glue(t, data_fixture("glue/" + rel), opt);
}

std::vector<int32_t> labels_of(const TextDataset& d) {
  std::vector<int32_t> v;
  for (const auto& e : d.examples) v.push_back(e.label);
  return v;
}

}  // namespace

TEST_CASE("GLUE task table follows Hugging Face's glue dataset", "[data]") {
  using V = std::vector<std::string>;
  CHECK(glue_task_info(GlueTask::mnli).label_names == V{"entailment", "neutral", "contradiction"});
  CHECK(glue_task_info(GlueTask::qnli).label_names == V{"entailment", "not_entailment"});
  CHECK(glue_task_info(GlueTask::rte).label_names == V{"entailment", "not_entailment"});
  CHECK(glue_task_info(GlueTask::wnli).label_names == V{"not_entailment", "entailment"});
  CHECK(glue_task_info(GlueTask::cola).label_names == V{"unacceptable", "acceptable"});
  CHECK(glue_task_info(GlueTask::mrpc).label_values == V{"0", "1"});
  CHECK(glue_task_info(GlueTask::stsb).is_regression());
  CHECK(glue_task_info(GlueTask::stsb).num_labels() == 1);
  CHECK(glue_task_info(GlueTask::mnli).dev_files == V{"dev_matched.tsv", "dev_mismatched.tsv"});
  CHECK(all_glue_tasks().size() == 9);
  CHECK(parse_glue_task("SST-2") == GlueTask::sst2);
  CHECK(parse_glue_task("STS-B") == GlueTask::stsb);
  CHECK(parse_glue_task("mnli") == GlueTask::mnli);
  CHECK_THROWS_WITH(parse_glue_task("squad"), Catch::Contains("[data] unknown GLUE task \"squad\"") &&
                                                  Catch::Contains("hint:"));
}

TEST_CASE("CoLA: headerless train/dev by position, test with header", "[data]") {
  const auto train = glue(GlueTask::cola, "CoLA/train.tsv");
  REQUIRE(train.size() == 4);
  CHECK_FALSE(train.is_pair);
  CHECK(train.label_kind == LabelKind::classification);
  CHECK(train.examples[0].text == "The cat sat on the mat.");
  CHECK(train.examples[0].line == 1);  // no header: the first line is an example
  CHECK(train.examples[2].text == "She said \"hello\" to him.");  // quotes are literal
  CHECK(labels_of(train) == std::vector<int32_t>{1, 0, 1, 0});
  CHECK(glue(GlueTask::cola, "CoLA/dev.tsv").size() == 2);

  const auto test = glue(GlueTask::cola, "CoLA/test.tsv");
  CHECK(test.label_kind == LabelKind::none);
  REQUIRE(test.size() == 2);
  CHECK(test.examples[1].text == "Barked a dog.");
  CHECK(test.examples[1].line == 3);
}

TEST_CASE("SST-2 reads sentences and labels, quotes stay literal", "[data]") {
  const auto train = glue(GlueTask::sst2, "SST-2/train.tsv");
  REQUIRE(train.size() == 3);
  CHECK(train.examples[2].text == "the \"twist\" is obvious ");
  CHECK(labels_of(train) == std::vector<int32_t>{1, 0, 0});
  CHECK(train.label_names == std::vector<std::string>{"negative", "positive"});
  CHECK(glue(GlueTask::sst2, "SST-2/dev.tsv").examples[0].label == 1);
  const auto test = glue(GlueTask::sst2, "SST-2/test.tsv");
  CHECK(test.label_kind == LabelKind::none);
  CHECK(test.examples[0].text == "quietly moving ");
}

TEST_CASE("MRPC reads #1/#2 String and Quality, past a UTF-8 BOM", "[data]") {
  const auto train = glue(GlueTask::mrpc, "MRPC/train.tsv");
  REQUIRE(train.size() == 2);
  CHECK(train.is_pair);
  CHECK(train.examples[0].text == "The firm posted a profit.");
  CHECK(train.examples[0].text_pair == "The company reported a profit.");
  CHECK(labels_of(train) == std::vector<int32_t>{1, 0});
  const auto test = glue(GlueTask::mrpc, "MRPC/test.tsv");
  CHECK(test.label_kind == LabelKind::none);
  CHECK(test.examples[0].text_pair == "Costs went up.");
}

TEST_CASE("QQP reads question pairs and is_duplicate", "[data]") {
  const auto train = glue(GlueTask::qqp, "QQP/train.tsv");
  REQUIRE(train.size() == 2);
  CHECK(train.examples[0].text == "How do I learn C++?");
  CHECK(train.examples[0].text_pair == "What is the best way to learn C++?");
  CHECK(labels_of(train) == std::vector<int32_t>{1, 0});
  CHECK(glue(GlueTask::qqp, "QQP/test.tsv").label_kind == LabelKind::none);
}

TEST_CASE("STS-B reads float scores (regression)", "[data]") {
  const auto train = glue(GlueTask::stsb, "STS-B/train.tsv");
  REQUIRE(train.size() == 3);
  CHECK(train.label_kind == LabelKind::regression);
  CHECK(train.label_names.empty());
  CHECK(train.examples[0].text == "A man plays a guitar.");
  CHECK(train.examples[0].target == 4.8f);
  CHECK(train.examples[1].target == 0.0f);
  CHECK(train.examples[2].target == 3.5f);
  CHECK(glue(GlueTask::stsb, "STS-B/test.tsv").label_kind == LabelKind::none);
}

TEST_CASE("MNLI: train, dev matched/mismatched (label1..5), test, label order", "[data]") {
  const auto train = glue(GlueTask::mnli, "MNLI/train.tsv");
  REQUIRE(train.size() == 3);
  CHECK(train.examples[0].text == "He ran home.");
  CHECK(train.examples[0].text_pair == "He went home.");
  // entailment 0, neutral 1, contradiction 2
  CHECK(labels_of(train) == std::vector<int32_t>{0, 2, 1});
  CHECK(labels_of(glue(GlueTask::mnli, "MNLI/dev_matched.tsv")) == std::vector<int32_t>{0, 2});
  CHECK(labels_of(glue(GlueTask::mnli, "MNLI/dev_mismatched.tsv")) == std::vector<int32_t>{1});
  const auto test = glue(GlueTask::mnli, "MNLI/test_matched.tsv");
  CHECK(test.label_kind == LabelKind::none);
  CHECK(test.examples[0].text == "Snow fell.");
}

TEST_CASE("QNLI, RTE, WNLI read pairs and labels", "[data]") {
  const auto qnli = glue(GlueTask::qnli, "QNLI/train.tsv");
  CHECK(qnli.examples[0].text == "Where is Paris?");
  CHECK(qnli.examples[0].text_pair == "Paris is in France.");
  CHECK(labels_of(qnli) == std::vector<int32_t>{0, 1});
  CHECK(glue(GlueTask::qnli, "QNLI/test.tsv").label_kind == LabelKind::none);

  const auto rte = glue(GlueTask::rte, "RTE/train.tsv");
  CHECK(rte.examples[1].text == "Tom bought a car.");
  CHECK(labels_of(rte) == std::vector<int32_t>{0, 1});
  CHECK(glue(GlueTask::rte, "RTE/test.tsv").examples[0].text_pair == "Ann can sing.");

  const auto wnli = glue(GlueTask::wnli, "WNLI/train.tsv");
  CHECK(labels_of(wnli) == std::vector<int32_t>{1, 0});
  CHECK(wnli.label_names[1] == "entailment");
  CHECK(glue(GlueTask::wnli, "WNLI/test.tsv").label_kind == LabelKind::none);
}

TEST_CASE("GLUE columns are found by header name, in any order", "[data]") {
  const auto d = read_glue(GlueTask::rte, data_fixture("glue/reordered_rte.tsv"));
  REQUIRE(d.size() == 1);
  CHECK(d.examples[0].text == "Cats meow.");
  CHECK(d.examples[0].text_pair == "Cats bark.");
  CHECK(d.examples[0].label == 1);
}

TEST_CASE("GLUE reader options: max_examples, require_labels, wrong task", "[data]") {
  ReadOptions first2;
  first2.max_examples = 2;
  CHECK(glue(GlueTask::cola, "CoLA/train.tsv", first2).size() == 2);

  ReadOptions need;
  need.require_labels = true;
  need.config_key = "data.dev";
  CHECK_THROWS_WITH(glue(GlueTask::rte, "RTE/test.tsv", need),
                    Catch::Contains("no label column \"label\"") && Catch::Contains("data.dev"));
  // The QQP file read as RTE: the header lacks sentence1.
  CHECK_THROWS_WITH(glue(GlueTask::rte, "QQP/train.tsv"),
                    Catch::Contains("train.tsv:1: the header has no column \"sentence1\"") &&
                        Catch::Contains("hint:"));
}
