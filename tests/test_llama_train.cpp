// Causal-LM fine-tuning of a LLaMA model straight from a GGUF file
// (model.path = tests/fixtures/gguf/tiny_llama.gguf, a tiny transformers model
// written as llama.cpp does): LoRA training lowers the held-out loss, the base
// weights stay those of the file, and the final checkpoint carries the
// tokenizer and config built from the GGUF metadata, so it evaluates to the
// same loss when loaded back.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "spt/data/metrics.h"
#include "spt/io/checkpoint.h"
#include "spt/io/gguf_import.h"
#include "spt/io/safetensors.h"
#include "spt/train/config.h"
#include "spt/train/trainer.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;

namespace {

void write_text(const fs::path& file, int lines, uint64_t seed) {
  const std::vector<std::string> words = {"the", "people", "of", "America", "and", "we", "will", "year",
                                          "union", "state", "congress", "nation"};
  std::mt19937_64 rng(seed);
  std::ofstream out(file);
  for (int r = 0; r < lines; ++r) {
    // A learnable pattern: a word, then always the same successor.
    std::string s;
    for (int i = 0; i < 12; ++i) {
      const size_t w = rng() % words.size();
      s += words[w] + " " + words[(w + 1) % words.size()] + " ";
    }
    out << s << "\n";
  }
}

io::Json llama_config(const fs::path& model, const fs::path& root, const std::string& out) {
  return {{"model", {{"path", model.string()}}},
          {"task", {{"type", "causal_lm"}}},
          {"data", {{"train", (root / "train.txt").string()}, {"dev", (root / "dev.txt").string()},
                    {"format", "text"}, {"block_size", 32}}},
          {"train", {{"batch_size", 4}, {"max_steps", 24}, {"learning_rate", 1e-2}, {"seed", 3},
                     {"warmup_steps", 2}}},
          {"lora", {{"enabled", true}, {"rank", 4}, {"alpha", 8}, {"targets", {"all-linear"}}}},
          {"eval", {{"every_epoch", false}}},
          {"output", {{"dir", (root / out).string()}, {"save_best", false}}},
          {"logging", {{"every_steps", 1}, {"level", "warn"}}}};
}

// Dev loss before and after training with `j` (a fresh run in j's output.dir).
std::pair<double, double> train_and_evaluate(const io::Json& j, const fs::path& root) {
  const train::ResolvedConfig cfg = train::resolve_config(j, (root / "c.json").string());
  train::Trainer t(cfg);
  const double before = data::metric_value(t.evaluate(), "loss");
  t.train();
  return {before, data::metric_value(t.evaluate(), "loss")};
}

}  // namespace

TEST_CASE("LoRA causal-LM training of a LLaMA model straight from a GGUF file", "[train][llama][gguf]") {
  const fs::path root = fresh_dir("llama_gguf");
  const fs::path gguf = fixtures_dir() / "gguf" / "tiny_llama.gguf";
  write_text(root / "train.txt", 64, 1);
  write_text(root / "dev.txt", 8, 2);
  const auto [before, after] = train_and_evaluate(llama_config(gguf, root, "out"), root);
  INFO("dev loss " << before << " -> " << after);
  CHECK(after < before - 0.1);
  const fs::path fin = root / "out" / "final";
  CHECK(fs::exists(fin / "tokenizer.json"));
  CHECK(io::load_model_config((fin / "config.json").string()).llama.num_key_value_heads == 2);
  // The base weights are the file's, dequantised and in Hugging Face order.
  io::GgufModel g = io::open_gguf_model(gguf.string());
  const io::SafetensorsReader trained((fin / "model.safetensors").string());
  int compared = 0;
  for (const io::TensorInfo& ti : g.tensors->tensors()) {
    INFO(ti.name);
    if (trained.find(ti.name) == nullptr) continue;  // lm_head under its own name when untied
    CHECK(trained.load(ti.name).to_doubles() == g.tensors->load(ti.name).to_doubles());
    ++compared;
  }
  CHECK(compared >= 18);
  // The checkpoint evaluates to the same loss.
  io::Json j = llama_config(fin, root, "out2");
  const train::ResolvedConfig cfg2 = train::resolve_config(j, (root / "c2.json").string());
  train::Trainer t2(cfg2);
  CHECK(std::abs(data::metric_value(t2.evaluate(), "loss") - after) <= 1e-6 * std::abs(after));
  fs::remove_all(root);
}

TEST_CASE("SPT on a LLaMA model from a GGUF file: sparse grouped-query attention and a routed SwiGLU FFN",
          "[train][llama][sparse][routed]") {
  const fs::path root = fresh_dir("llama_spt");
  const fs::path gguf = fixtures_dir() / "gguf" / "tiny_llama.gguf";
  write_text(root / "train.txt", 64, 1);
  write_text(root / "dev.txt", 8, 2);
  io::Json j = llama_config(gguf, root, "out");
  j["attention"] = {{"type", "sparse"}, {"top_l", 8}, {"pq", {{"subvector_dim", 2}, {"calibration_batches", 2}}}};
  j["ffn"] = {{"type", "routed"}, {"blocks", 4}, {"active", 2}, {"calibration_batches", 2}};
  j["lora"]["targets"] = {"attn.q", "attn.k", "attn.v", "attn.out"};
  const auto [before, after] = train_and_evaluate(j, root);
  INFO("dev loss " << before << " -> " << after);
  CHECK(after < before);
  // The checkpoint keeps codebooks (one set per key/value head) and routers.
  const io::SafetensorsReader own((root / "out" / "final" / "spt_tensors.safetensors").string());
  int codebooks = 0, routers = 0;
  for (const io::TensorInfo& ti : own.tensors()) {
    codebooks += ti.name.find("codebooks") != std::string::npos;
    routers += ti.name.find("router.weight") != std::string::npos;
  }
  CHECK(codebooks == 2);
  CHECK(routers == 2);
  fs::remove_all(root);
}
