// Every kind of bad row names file:line and what is wrong, with a hint; with
// skip_bad_rows the rows are skipped and counted, the first reasons kept.
#include <catch2/catch.hpp>

#include "spt/core/error.h"
#include "spt/data/glue.h"
#include "spt/data/table_dataset.h"
#include "tests/data/data_test_util.h"

namespace {

using namespace spt::data;
using Catch::Contains;
using spt::test::data_fixture;
using spt::test::ScratchFile;

ReadOptions skipping() {
  ReadOptions o;
  o.skip_bad_rows = true;
  return o;
}

TableOptions table(const std::string& text, const std::string& label, bool skip = false) {
  TableOptions o;
  o.text_column = text;
  o.label_column = label;
  o.read.skip_bad_rows = skip;
  return o;
}

}  // namespace

TEST_CASE("GLUE bad rows: column count, unknown label, empty text", "[data]") {
  const auto file = data_fixture("bad/rte_bad.tsv");
  SECTION("the first bad row stops reading, naming file:line and the problem") {
    CHECK_THROWS_WITH(read_glue(GlueTask::rte, file),
                      Contains("[data] ") && Contains("rte_bad.tsv:3: expected 4 tab-separated "
                                                      "columns, got 3") &&
                          Contains("hint: ") && Contains("data.skip_bad_rows"));
  }
  SECTION("skip mode counts every kind and keeps the good rows") {
    const auto d = read_glue(GlueTask::rte, file, skipping());
    REQUIRE(d.size() == 2);
    CHECK(d.examples[0].line == 2);
    CHECK(d.examples[1].line == 6);
    CHECK(d.examples[1].label == 1);
    CHECK(d.bad_rows.count == 3);
    REQUIRE(d.bad_rows.reasons.size() == 3);
    CHECK_THAT(d.bad_rows.reasons[0], Contains("rte_bad.tsv:3: expected 4"));
    CHECK_THAT(d.bad_rows.reasons[1],
               Contains("rte_bad.tsv:4: unknown label \"maybe\"") &&
                   Contains("entailment, not_entailment"));
    CHECK_THAT(d.bad_rows.reasons[2], Contains("rte_bad.tsv:5: empty text in column \"sentence1\""));
    CHECK_THAT(d.bad_rows.summary(), Contains("skipped 3 bad rows (first: "));
  }
}

TEST_CASE("GLUE bad rows: unparsable score, invalid UTF-8", "[data]") {
  CHECK_THROWS_WITH(read_glue(GlueTask::stsb, data_fixture("bad/stsb_bad_score.tsv")),
                    Contains("stsb_bad_score.tsv:3: score \"high\" in column \"score\" is not a "
                             "number") && Contains("hint:"));
  CHECK_THROWS_WITH(read_glue(GlueTask::sst2, data_fixture("bad/sst2_bad_utf8.tsv")),
                    Contains("sst2_bad_utf8.tsv:3: invalid UTF-8 at byte 8 of the line"));
  const auto d = read_glue(GlueTask::sst2, data_fixture("bad/sst2_bad_utf8.tsv"), skipping());
  CHECK(d.size() == 2);
  CHECK(d.bad_rows.count == 1);
}

TEST_CASE("JSONL bad lines: invalid JSON, not an object, wrong types, missing key", "[data]") {
  const auto file = data_fixture("bad/bad_json.jsonl");
  CHECK_THROWS_WITH(read_table(file, table("text", "label")),
                    Contains("bad_json.jsonl:2: invalid JSON") && Contains("hint:"));
  const auto d = read_table(file, table("text", "label", true));
  REQUIRE(d.size() == 2);
  CHECK(d.examples[1].text == "last good");
  CHECK(d.examples[1].line == 7);
  CHECK(d.bad_rows.count == 4);
  REQUIRE(d.bad_rows.reasons.size() == 4);
  CHECK_THAT(d.bad_rows.reasons[0], Contains(":2: invalid JSON"));
  CHECK_THAT(d.bad_rows.reasons[1], Contains(":4: expected a JSON object, got array"));
  CHECK_THAT(d.bad_rows.reasons[2], Contains(":5: key \"text\" is not a string"));
  CHECK_THAT(d.bad_rows.reasons[3], Contains(":6: missing key \"label\""));
}

TEST_CASE("CSV bad rows: text after a closing quote, unterminated quote", "[data]") {
  CHECK_THROWS_WITH(read_table(data_fixture("bad/bad_quote.csv"), table("text", "label")),
                    Contains("bad_quote.csv:3: unexpected character ' ' after a closing quote"));
  const auto d = read_table(data_fixture("bad/bad_quote.csv"), table("text", "label", true));
  CHECK(d.size() == 2);
  CHECK(d.examples[0].text == "fine, quoted");
  CHECK(d.examples[1].text == "plain");

  CHECK_THROWS_WITH(read_table(data_fixture("bad/unterminated.csv"), table("text", "label")),
                    Contains("unterminated.csv:3: unterminated quoted field"));
  // The unterminated field swallows the rest of the file: one bad row, one good row left.
  const auto u = read_table(data_fixture("bad/unterminated.csv"), table("text", "label", true));
  CHECK(u.size() == 1);
  CHECK(u.bad_rows.count == 1);
}

TEST_CASE("Generic bad rows: column count, empty text and label, bad number", "[data]") {
  const ScratchFile f("rows.tsv",
                      "text\tlabel\nok\ta\nshort\n\tb\nnolabel\t\nfine\tb\n");
  CHECK_THROWS_WITH(read_table(f.path(), table("text", "label")),
                    Contains("rows.tsv:3: expected 2 tab-separated columns, got 1"));
  const auto d = read_table(f.path(), table("text", "label", true));
  CHECK(d.size() == 2);
  REQUIRE(d.bad_rows.count == 3);
  CHECK_THAT(d.bad_rows.reasons[1], Contains("rows.tsv:4: empty text in column \"text\""));
  CHECK_THAT(d.bad_rows.reasons[2], Contains("rows.tsv:5: empty label"));

  const ScratchFile n("scores.csv", "text,y\nfine,1.5\nbad,1.5x\nnan,nan\n");
  auto reg = table("text", "y");
  reg.kind = LabelKind::regression;
  CHECK_THROWS_WITH(read_table(n.path(), reg), Contains("scores.csv:3: label \"1.5x\" is not a number"));
  reg.read.skip_bad_rows = true;
  const auto r = read_table(n.path(), reg);
  CHECK(r.size() == 1);
  CHECK(r.bad_rows.count == 2);  // "nan" is not a finite number either
}

TEST_CASE("Skip mode keeps the first five reasons and counts all", "[data]") {
  std::string text = "text\tlabel\n";
  for (int i = 0; i < 8; ++i) text += "only one column\n";
  text += "good\tx\n";
  const ScratchFile f("many.tsv", text);
  const auto d = read_table(f.path(), table("text", "label", true));
  CHECK(d.size() == 1);
  CHECK(d.bad_rows.count == 8);
  CHECK(d.bad_rows.reasons.size() == BadRows::kKeepReasons);
  CHECK_THAT(d.bad_rows.summary(), Contains("skipped 8 bad rows") && Contains("many.tsv:2:") &&
                                       Contains("; ...)"));
}

TEST_CASE("A file with no usable rows is an error even in skip mode", "[data]") {
  const ScratchFile f("none.tsv", "text\tlabel\nonly\n");
  CHECK_THROWS_WITH(read_table(f.path(), table("text", "label", true)),
                    Contains("none.tsv holds no usable examples") && Contains("skipped 1 bad row"));
}

TEST_CASE("Missing files name the path and the config key", "[data]") {
  ReadOptions o;
  o.config_key = "data.dev";
  CHECK_THROWS_WITH(read_glue(GlueTask::rte, data_fixture("glue/RTE/nope.tsv"), o),
                    Contains("[data] data.dev: ") && Contains("nope.tsv not found") &&
                        Contains("hint: set data.dev"));
  CHECK_THROWS_WITH(read_table(data_fixture("generic/missing.csv"), table("text", "label")),
                    Contains("data.train: ") && Contains("missing.csv not found"));
  CHECK_THROWS_WITH(read_glue(GlueTask::rte, data_fixture("glue/RTE")),
                    Contains("is a folder, not a file"));
}
