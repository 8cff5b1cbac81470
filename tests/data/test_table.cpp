// Generic TSV / CSV / JSONL readers: RFC 4180 quoting, columns by name or index,
// label names from the file or given, regression labels, format detection.
#include <catch2/catch.hpp>

#include "spt/core/error.h"
#include "spt/data/records.h"
#include "spt/data/table_dataset.h"
#include "tests/data/data_test_util.h"

namespace {

using namespace spt::data;
using Catch::Contains;
using spt::test::data_fixture;
using spt::test::ScratchFile;
using Names = std::vector<std::string>;

TableOptions cols(const std::string& text, const std::string& label) {
  TableOptions o;
  o.text_column = text;
  o.label_column = label;
  return o;
}

std::vector<int32_t> labels_of(const TextDataset& d) {
  std::vector<int32_t> v;
  for (const auto& e : d.examples) v.push_back(e.label);
  return v;
}

}  // namespace

TEST_CASE("CSV follows RFC 4180: commas, doubled quotes, line breaks in quotes", "[data]") {
  const auto d = read_table(data_fixture("generic/reviews.csv"), cols("review", "label"));
  REQUIRE(d.size() == 5);
  CHECK(d.examples[0].text == "Great, really great");
  CHECK(d.examples[1].text == "He said \"wow\"");
  CHECK(d.examples[2].text == "two\nlines");
  CHECK(d.examples[2].line == 4);
  CHECK(d.examples[3].text == "plain text");
  CHECK(d.examples[3].line == 6);  // after the two-line record
  CHECK(d.examples[4].text == "a \"quoted\" word");
  // Label names: the sorted distinct labels of the file.
  CHECK(d.label_names == Names{"neg", "neutral", "pos"});
  CHECK(labels_of(d) == std::vector<int32_t>{2, 2, 0, 0, 1});
}

TEST_CASE("CSV record splitting edge cases", "[data]") {
  const ScratchFile f("edge.csv", "a,b,c\r\n\"\",x,\r\n\"q\"\"\",\"\",\"multi\r\nline\"\r\n");
  DelimitedReader r(f.path(), FileFormat::csv, "data.train");
  BadRows bad;
  const RowPolicy policy(false, bad);
  Record rec;
  REQUIRE(r.next(rec, policy));
  CHECK(rec.fields == Names{"a", "b", "c"});
  REQUIRE(r.next(rec, policy));
  CHECK(rec.fields == Names{"", "x", ""});  // trailing comma: an empty last field
  REQUIRE(r.next(rec, policy));
  CHECK(rec.fields == Names{"q\"", "", "multi\nline"});
  CHECK(rec.line == 3);
  CHECK_FALSE(r.next(rec, policy));
}

TEST_CASE("TSV has no quoting, columns by index without a header", "[data]") {
  const auto d = read_table(data_fixture("generic/reviews.tsv"), cols("review", "label"));
  REQUIRE(d.size() == 2);
  CHECK(d.examples[0].text == "\"not quoted\" in tsv");
  CHECK(d.examples[1].text == "good, fine");

  auto o = cols("1", "0");
  o.has_header = false;
  const auto n = read_table(data_fixture("generic/reviews_noheader.tsv"), o);
  REQUIRE(n.size() == 2);
  CHECK(n.examples[0].text == "nice one");
  CHECK(n.examples[0].line == 1);
  CHECK(n.label_names == Names{"neg", "pos"});
  CHECK(labels_of(n) == std::vector<int32_t>{1, 0});

  // With a header, an index works too.
  const auto idx = read_table(data_fixture("generic/reviews.csv"), cols("1", "2"));
  CHECK(idx.examples[0].text == "Great, really great");
}

TEST_CASE("Column errors name the key and the header", "[data]") {
  CHECK_THROWS_WITH(read_table(data_fixture("generic/reviews.csv"), cols("text", "label")),
                    Contains("reviews.csv:1: data.text_column = \"text\" is not in the header") &&
                        Contains("\"id\", \"review\", \"label\"") && Contains("hint:"));
  CHECK_THROWS_WITH(read_table(data_fixture("generic/reviews.csv"), cols("review", "7")),
                    Contains("data.label_column = 7 but rows have 3 columns"));
  auto o = cols("review", "label");
  o.has_header = false;
  CHECK_THROWS_WITH(read_table(data_fixture("generic/reviews_noheader.tsv"), o),
                    Contains("is not a column index and the file has no header"));
}

TEST_CASE("Text columns are picked from the header as run_glue.py picks them", "[data]") {
  CHECK(table_columns(data_fixture("generic/reviews.csv")) == Names{"id", "review", "label"});
  CHECK(table_columns(data_fixture("generic/reviews.jsonl")).size() >= 2);
  const auto pick = [](Names cols) { return pick_text_columns(cols, "label", "f.tsv"); };
  CHECK(pick({"id", "review", "label"}).text == "review");  // the one non-label, non-id column
  CHECK(pick({"text", "label"}).text == "text");
  CHECK(pick({"text", "text_pair"}).pair == "text_pair");
  CHECK(pick({"idx", "sentence", "label"}).text == "sentence");
  const TextColumns qnli = pick({"idx", "question", "sentence", "label"});
  CHECK((qnli.text == "question" && qnli.pair == "sentence"));
  const TextColumns mrpc = pick({"sentence1", "sentence2", "label"});
  CHECK((mrpc.text == "sentence1" && mrpc.pair == "sentence2"));
  CHECK(pick({"premise", "hypothesis", "label"}).pair == "hypothesis");
  CHECK_THROWS_WITH(pick({"title", "body", "label"}),
                    Contains("cannot tell which column holds the text") && Contains("\"title\", \"body\"") &&
                        Contains("--text-column"));
  const ScratchFile tsv("q.tsv", "question1\tquestion2\tis_duplicate\nA?\tB?\t1\n");
  CHECK(pick_text_columns(table_columns(tsv.path()), "is_duplicate", "q.tsv").pair == "question2");
}

TEST_CASE("Given label names fix the ids, unknown eval labels are bad rows", "[data]") {
  auto o = cols("review", "label");
  o.label_names = {"pos", "neg"};
  o.read.config_key = "data.dev";
  CHECK_THROWS_WITH(read_table(data_fixture("generic/dev_unknown_label.csv"), o),
                    Contains("dev_unknown_label.csv:3: unknown label \"maybe\" (labels: pos, neg)") &&
                        Contains("hint: add the label to data.label_names"));
  o.read.skip_bad_rows = true;
  const auto d = read_table(data_fixture("generic/dev_unknown_label.csv"), o);
  CHECK(labels_of(d) == std::vector<int32_t>{0, 1});
  CHECK(d.label_names == Names{"pos", "neg"});
  CHECK(d.bad_rows.count == 1);

  o.label_names = {"pos", "pos"};
  CHECK_THROWS_WITH(read_table(data_fixture("generic/dev_unknown_label.csv"), o),
                    Contains("lists a label twice"));
}

TEST_CASE("JSONL: keys, integer/boolean labels sorted numerically or bytewise, pairs", "[data]") {
  TableOptions o;  // text / label
  const auto d = read_table(data_fixture("generic/reviews.jsonl"), o);
  REQUIRE(d.size() == 4);
  // Labels 2, 10, 2, true: not all integers, so bytewise: "10" < "2" < "true".
  CHECK(d.label_names == Names{"10", "2", "true"});
  CHECK(labels_of(d) == std::vector<int32_t>{1, 0, 1, 2});

  const ScratchFile ints("ints.jsonl", "{\"text\":\"a\",\"label\":10}\n{\"text\":\"b\",\"label\":2}\n");
  CHECK(read_table(ints.path(), o).label_names == Names{"2", "10"});  // numeric order

  TableOptions p;
  p.text_column = "premise";
  p.text_pair_column = "hypothesis";
  const auto pairs = read_table(data_fixture("generic/pairs.jsonl"), p);
  REQUIRE(pairs.size() == 2);
  CHECK(pairs.is_pair);
  CHECK(pairs.examples[0].text_pair == "Ein Tier macht L\xC3\xA4rm.");
  CHECK(pairs.label_names == Names{"no", "yes"});
}

TEST_CASE("Regression labels are floats, unlabeled data ignores the label column", "[data]") {
  auto o = cols("sentence", "score");
  o.kind = LabelKind::regression;
  const auto d = read_table(data_fixture("generic/scores.csv"), o);
  REQUIRE(d.size() == 3);
  CHECK(d.label_kind == LabelKind::regression);
  CHECK(d.examples[0].target == 4.5f);
  CHECK(d.examples[1].target == -0.1f);
  CHECK(d.examples[2].text == " spaced ");
  CHECK(d.examples[2].target == 3.0f);

  auto none = cols("sentence", "no_such_column");
  none.kind = LabelKind::none;
  CHECK(read_table(data_fixture("generic/scores.csv"), none).label_kind == LabelKind::none);
}

TEST_CASE("Formats come from data.format or the extension", "[data]") {
  CHECK(resolve_format("auto", "a/b.tsv") == FileFormat::tsv);
  CHECK(resolve_format("auto", "b.csv") == FileFormat::csv);
  CHECK(resolve_format("auto", "b.jsonl") == FileFormat::jsonl);
  CHECK(resolve_format("auto", "b.txt") == FileFormat::text);
  CHECK(resolve_format("csv", "b.data") == FileFormat::csv);
  CHECK_THROWS_WITH(resolve_format("auto", "b.data"),
                    Contains("cannot tell the format") && Contains("hint: set data.format"));
  CHECK_THROWS_WITH(resolve_format("xml", "b.csv"), Contains("unknown data.format \"xml\""));
  TableOptions o;
  o.format = "text";
  CHECK_THROWS_WITH(read_table(data_fixture("lm/doc_a.txt"), o), Contains("causal LM only"));
}
