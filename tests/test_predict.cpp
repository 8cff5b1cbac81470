// spt-predict on data that is only slightly off (issue: hardening, item 5): a
// text column not named "text" is picked from the header (and named with
// --text-column when the header is ambiguous), and the default max length never
// exceeds the model's positions.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "spt/train/config.h"
#include "spt/train/trainer.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;

namespace {

int64_t count_lines(const fs::path& p) {
  std::ifstream in(p);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

}  // namespace

TEST_CASE("spt-predict picks the text column and caps the default length at the model's positions",
          "[predict][train]") {
  const fs::path root = fresh_dir("predict_columns");
  const fs::path model = make_tiny_bert(root, 0.0);  // 64 positions
  make_data(root / "train.tsv", 32, 5);
  io::Json j = run_config(model, root / "train.tsv", root / "out");
  j["train"]["max_steps"] = 2;
  j["tokenizer"]["max_length"] = 128;  // short texts: training never reaches 64 tokens
  {
    train::Trainer t(train::resolve_config(j, (root / "c.json").string()));
    t.train();
  }
  const fs::path fin = root / "out" / "final";
  // "sentence" instead of "text", and one text longer than the 64 positions.
  std::string long_text;
  for (int i = 0; i < 90; ++i) long_text += "people ";
  std::ofstream(root / "glue_like.tsv") << "idx\tsentence\n0\tthe people are happy\n1\t" << long_text << "\n";
  const auto predict = [&](const fs::path& data, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {SPT_PREDICT_BIN, "--model", fin.string(), "--data", data.string(),
                                     "--output", (root / "pred.jsonl").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    fs::remove(root / "pred.jsonl");
    return wait_exit(spawn(args));
  };
  CHECK(predict(root / "glue_like.tsv") == 0);
  CHECK(count_lines(root / "pred.jsonl") == 2);
  // The checkpoint's own length (128) asked for explicitly is the user's choice: too long for the model.
  CHECK(predict(root / "glue_like.tsv", {"--max-length", "128"}) == 1);
  // An ambiguous header is an error (exit 1) until --text-column names the column.
  std::ofstream(root / "two.tsv") << "title\tbody\nthe people\tare happy\n";
  CHECK(predict(root / "two.tsv") == 1);
  CHECK(predict(root / "two.tsv", {"--text-column", "body"}) == 0);
  CHECK(count_lines(root / "pred.jsonl") == 1);
  CHECK(predict(root / "two.tsv", {"--text-column", "title", "--pair-column", "body"}) == 0);
  fs::remove_all(root);
}

TEST_CASE("a relative path given with --set resolves against the current directory", "[config]") {
  const fs::path root = fresh_dir("set_paths");
  fs::create_directories(root / "configs");
  const fs::path cfg = root / "configs" / "c.json";
  std::ofstream(cfg) << R"({"model": {"path": "../models/m"}, "data": {"train": "train.tsv"}})";
  const train::ResolvedConfig inside = train::load_config(cfg.string());
  CHECK(inside.str("model.path") == (root / "models" / "m").lexically_normal().string());  // the config's folder
  CHECK(inside.str("data.train") == (root / "configs" / "train.tsv").lexically_normal().string());
  const train::ResolvedConfig typed = train::load_config(cfg.string(), {"model.path=.cache/x", "output.dir=/abs/out"});
  CHECK(typed.str("model.path") == (fs::current_path() / ".cache" / "x").lexically_normal().string());
  CHECK(typed.str("output.dir") == "/abs/out");
  fs::remove_all(root);
}
