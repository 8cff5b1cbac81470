// LoRA fine-tuning end to end on a tiny random BERT: only the adapters and the
// head change (the base stays bit-identical, has no gradient and no AdamW
// moments), the checkpoint keeps the adapters in spt_tensors.safetensors and
// export-hf says it leaves them out, a tensor the writer cannot place is
// refused, and malformed lora settings give clear errors.
#include <catch2/catch.hpp>
#include <filesystem>

#include "spt/core/error.h"
#include "spt/io/checkpoint.h"
#include "spt/io/safetensors.h"
#include "spt/train/config.h"
#include "spt/train/trainer.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;

namespace {

io::Json lora_config(const fs::path& root, const fs::path& model, const std::string& out) {
  io::Json j = run_config(model, root / "train.tsv", root / out);
  j["train"]["max_steps"] = 6;
  j["lora"] = {{"enabled", true}, {"rank", 4}, {"alpha", 16}, {"targets", {"all-linear"}}};
  return j;
}


}  // namespace

TEST_CASE("LoRA training changes only the adapters and the head", "[train][lora]") {
  const fs::path root = fresh_dir("lora_train");
  const fs::path model = make_tiny_bert(root, 0.1);
  make_data(root / "train.tsv", 64, 3);
  const train::ResolvedConfig cfg = train::resolve_config(lora_config(root, model, "out"), (root / "c.json").string());
  {
    train::Trainer t(cfg);
    t.train();
  }
  const fs::path fin = root / "out" / "final";
  const io::SafetensorsReader base((model / "model.safetensors").string());
  const io::SafetensorsReader trained((fin / "model.safetensors").string());
  int compared = 0;
  for (const io::TensorInfo& ti : base.tensors()) {
    INFO(ti.name);
    const std::string name = "bert." + ti.name;  // the classifier checkpoint writes the base prefix
    REQUIRE(trained.find(name) != nullptr);
    CHECK(trained.load(name).to_doubles() == base.load(ti.name).to_doubles());
    ++compared;
  }
  CHECK(compared > 20);
  // 2 layers x 6 linear layers x (A, B).
  const io::SafetensorsReader own((fin / "spt_tensors.safetensors").string());
  CHECK(own.tensors().size() == 24);
  double b_norm = 0;
  for (const io::TensorInfo& ti : own.tensors())
    if (ti.name.size() > 7 && ti.name.substr(ti.name.size() - 7) == ".lora_B")
      for (double v : own.load(ti.name).to_doubles()) b_norm += v * v;
  CHECK(b_norm > 0);  // B starts at 0 and was trained

  // export-hf leaves the adapters out and says so.
  const std::vector<std::string> notes = io::export_hf(fin.string(), (root / "hf").string());
  REQUIRE(notes.size() == 1);
  CHECK_THAT(notes[0], Catch::Contains("24 LoRA adapter tensor(s)") && Catch::Contains("merge-lora"));
  fs::remove_all(root);
}

TEST_CASE("a checkpoint with a tensor the writer cannot place is refused", "[lora][checkpoint]") {
  const fs::path root = fresh_dir("unplaced");
  const fs::path model = make_tiny_bert(root, 0.0);
  io::CheckpointData d;
  d.config = io::load_model_config((model / "config.json").string());
  d.head = io::ModelHead::none;
  const io::SafetensorsReader r((model / "model.safetensors").string());
  d.params = io::load_weights(d.config, r, d.head).params;
  d.params.emplace_back("layers.0.attn.q.router", Tensor::zeros({4}, DType::f32));
  try {
    io::save_checkpoint((root / "ck").string(), d);
    FAIL("saved");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("layers.0.attn.q.router") && Catch::Contains("no place"));
  }
  CHECK_FALSE(fs::exists(root / "ck"));
  fs::remove_all(root);
}

TEST_CASE("malformed lora settings give clear errors", "[config][lora]") {
  const fs::path root = fresh_dir("lora_errors");
  const fs::path model = make_tiny_bert(root, 0.0);
  make_data(root / "train.tsv", 16, 3);
  auto with = [&](const io::Json& patch) {
    io::Json j = lora_config(root, model, "o");
    j["lora"].merge_patch(patch);
    return trainer_error(j, root);
  };
  CHECK_THAT(with({{"rank", 0}}), Catch::Contains("lora.rank"));
  CHECK_THAT(with({{"alpha", 0}}), Catch::Contains("lora.alpha must be > 0"));
  CHECK_THAT(with({{"dropout", 1.5}}), Catch::Contains("lora.dropout"));
  CHECK_THAT(with({{"targets", {"attn.q", "attn.zz"}}}),
             Catch::Contains("\"attn.zz\" matches no linear layer") && Catch::Contains("layers.0.attn.q"));
  CHECK_THAT(with({{"targets", io::Json::array()}}), Catch::Contains("lora.targets is empty"));
  CHECK_THAT(with({{"bias", "some"}}), Catch::Contains("lora.bias"));
  CHECK_THAT(with({{"modules_to_save", {"poolr"}}}), Catch::Contains("\"poolr\" matches no module"));
  CHECK_THAT(with({{"rnak", 4}}), Catch::Contains("lora.rank"));  // typo: a suggestion
  CHECK(with({{"targets", {"query", "value"}}}).empty());          // Hugging Face names work too
  fs::remove_all(root);
}
