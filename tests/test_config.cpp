// Config validation: every malformed config gives an spt::Error naming the file
// and the key (with a suggestion for typos); defaults and relative paths resolve;
// docs/config.md is the schema's current reference.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "spt/core/error.h"
#include "spt/train/config.h"
#include "tests/test_paths.h"

using namespace spt;
using train::Json;

namespace {

std::string error_of(const Json& j) {
  try {
    train::resolve_config(j, "/runs/x/run.json");
  } catch (const spt::Error& e) {
    return e.what();
  }
  return "";
}

Json base() { return {{"model", {{"path", "models/m"}}}}; }

}  // namespace

TEST_CASE("config defaults and relative paths", "[config]") {
  const train::ResolvedConfig c = train::resolve_config(base(), "/runs/x/run.json");
  CHECK(c.str("model.path") == "/runs/x/models/m");
  CHECK(c.number("train.learning_rate") == 2e-5);
  CHECK(c.integer("train.batch_size") == 32);
  CHECK(c.str("train.scheduler") == "linear");
  CHECK_FALSE(c.is_set("data.train"));
  CHECK(c.str("output.dir") == "/runs/x/runs/run");
}

TEST_CASE("malformed configs name the file and the key", "[config][errors]") {
  Json j = base();
  j["train"]["learnig_rate"] = 1e-4;
  CHECK_THAT(error_of(j), Catch::Contains("run.json") && Catch::Contains("unknown key \"train.learnig_rate\"") &&
                              Catch::Contains("did you mean \"train.learning_rate\""));
  j = base();
  j["train"]["batch_size"] = "32";
  CHECK_THAT(error_of(j), Catch::Contains("\"train.batch_size\" must be an integer, got string"));
  j = base();
  j["train"]["batch_size"] = 0;
  CHECK_THAT(error_of(j), Catch::Contains("\"train.batch_size\" = 0 is out of range"));
  j = base();
  j["train"]["learning_rate"] = -1;
  CHECK_THAT(error_of(j), Catch::Contains("train.learning_rate") && Catch::Contains("out of range"));
  j = base();
  j["train"]["scheduler"] = "cosin";
  CHECK_THAT(error_of(j), Catch::Contains("must be one of linear, cosine, constant"));
  j = base();
  j["eval"]["every_epoch"] = 1;
  CHECK_THAT(error_of(j), Catch::Contains("\"eval.every_epoch\" must be true or false"));
  j = base();
  j["model"]["freeze"] = {"a", 3};
  CHECK_THAT(error_of(j), Catch::Contains("model.freeze") && Catch::Contains("list of strings"));
  CHECK_THAT(error_of(Json::object()), Catch::Contains("\"model.path\" is required"));
  j = base();
  j["optimizer"] = {{"lr", 1}};
  CHECK_THAT(error_of(j), Catch::Contains("unknown key \"optimizer\""));
  j = base();
  j["train"] = 5;
  CHECK_THAT(error_of(j), Catch::Contains("\"train\" must be an object"));
  j = base();
  j["batch_size"] = 5;  // a key in the wrong place
  CHECK_THAT(error_of(j), Catch::Contains("did you mean \"train.batch_size\""));
  CHECK_THAT(error_of(Json::array()), Catch::Contains("must be a JSON object"));
}

TEST_CASE("config overrides with --set, and their errors", "[config]") {
  Json j = base();
  train::apply_override(j, "train.learning_rate=3e-5", "run.json");
  train::apply_override(j, "runtime.device=cuda:1", "run.json");
  train::apply_override(j, "model.freeze=[\"embeddings.*\"]", "run.json");
  const train::ResolvedConfig c = train::resolve_config(j, "run.json");
  CHECK(c.number("train.learning_rate") == 3e-5);
  CHECK(c.str("runtime.device") == "cuda:1");
  CHECK(c.strings("model.freeze") == std::vector<std::string>{"embeddings.*"});
  CHECK_THROWS_WITH(train::apply_override(j, "train.epoch=3", "run.json"),
                    Catch::Contains("did you mean \"train.epochs\""));
  CHECK_THROWS_WITH(train::apply_override(j, "train.epochs", "run.json"), Catch::Contains("key=value"));
}

TEST_CASE("config files: missing file and invalid JSON", "[config][errors]") {
  CHECK_THROWS_WITH(train::load_config("/nonexistent/run.json"),
                    Catch::Contains("/nonexistent/run.json") && Catch::Contains("no such file"));
  const auto p = std::filesystem::temp_directory_path() / "spt_bad_config.json";
  std::ofstream(p) << "{\n  \"model\": {\"path\": \"x\",}\n}\n";
  CHECK_THROWS_WITH(train::load_config(p.string()), Catch::Contains("line 2"));
  std::filesystem::remove(p);
}

TEST_CASE("docs/config.md is generated from the schema", "[config]") {
  std::ifstream in(test::source_dir() / "docs" / "config.md");
  std::stringstream ss;
  ss << in.rdbuf();
  INFO("regenerate with: build/spt-finetune --config-reference > docs/config.md");
  CHECK(ss.str() == train::config_reference_markdown());
}

TEST_CASE("every shipped config is valid", "[config]") {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(spt::test::source_dir() / "configs")) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path());
    CHECK_NOTHROW(spt::train::load_config(e.path().string()));
    ++n;
  }
  CHECK(n >= 12);  // demo, LoRA demo, sparse demo, nine GLUE tasks
}
