// Checkpoint names -> spt parameters for every fixture model and MiniLM:
// prefixes, legacy names, Conv1D transposes, ignored buffers, heads present,
// absent or newly initialised, and the single error listing every mismatch.
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <optional>

#include "spt/io/safetensors.h"
#include "spt/io/weight_map.h"
#include "tests/io/io_test_util.h"

using namespace spt;
using namespace spt::io;
using spt::test::error_of;

namespace {

struct Model {
  ModelConfig config;
  std::unique_ptr<TensorReader> reader;
};

Model open_model(const std::string& name) {
  const auto dir = spt::test::models_dir() / name;
  return {load_model_config(dir.string()), open_tensors(dir.string())};
}

// Copies the tensors of `r` into a new safetensors file, renamed (or dropped
// when `rename` returns nullopt), plus `extra` tensors.
void rewrite(const TensorReader& r, const std::string& out,
             const std::function<std::optional<std::string>(const std::string&)>& rename,
             const std::vector<std::pair<std::string, Tensor>>& extra = {}) {
  std::vector<std::pair<std::string, Tensor>> ts;
  for (const TensorInfo& t : r.tensors())
    if (auto n = rename(t.name)) ts.emplace_back(*n, r.load(t.name, runtime_dtype_of(t.dtype).value_or(DType::i64)));
  for (const auto& e : extra) ts.push_back(e);
  write_safetensors(out, ts, {{"format", "pt"}});
}

const Tensor& param(const LoadedWeights& w, const std::string& name) {
  for (const auto& [n, t] : w.params)
    if (n == name) return t;
  FAIL("no parameter " << name);
  return w.params.front().second;
}

std::vector<double> values(const Tensor& t) { return t.to_doubles(); }

}  // namespace

TEST_CASE("BERT with bert. prefix and classifier head maps fully", "[io]") {
  const Model m = open_model("bert_cls");
  REQUIRE(head_from_architectures(m.config) == ModelHead::sequence_classification);
  const LoadedWeights w = load_weights(m.config, *m.reader, ModelHead::sequence_classification);
  CHECK(w.prefix == "bert.");
  CHECK(w.newly_initialized.empty());
  CHECK(w.unused.empty());
  const auto specs = param_specs(m.config, ModelHead::sequence_classification);
  REQUIRE(w.params.size() == specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    CHECK(w.params[i].first == specs[i].name);
    CHECK(w.params[i].second.shape() == specs[i].shape);
    CHECK(w.params[i].second.dtype() == DType::f32);
  }
  CHECK(param(w, "classifier.weight").shape() == Shape{3, 32});
  CHECK(values(param(w, "layers.1.ffn.up.weight")) ==
        values(m.reader->load("bert.encoder.layer.1.intermediate.dense.weight")));
  // The same checkpoint as a bare encoder: the classifier is skipped on purpose.
  const LoadedWeights base = load_weights(m.config, *m.reader, ModelHead::none);
  CHECK(base.ignored == std::vector<std::string>{"classifier.bias", "classifier.weight"});
}

TEST_CASE("BERT without prefix, a missing classifier is newly initialised", "[io]") {
  const Model m = open_model("bert_base");
  const LoadedWeights w = load_weights(m.config, *m.reader, ModelHead::none);
  CHECK(w.prefix.empty());
  CHECK(w.newly_initialized.empty());
  CHECK(w.params.size() == m.reader->tensors().size());
  const LoadedWeights cls = load_weights(m.config, *m.reader, ModelHead::sequence_classification);
  CHECK(cls.newly_initialized == std::vector<std::string>{"classifier.weight", "classifier.bias"});
  CHECK(cls.params.size() == w.params.size());
  // Loading as bf16 rounds each value.
  const LoadedWeights h = load_weights(m.config, *m.reader, ModelHead::none, DType::bf16);
  CHECK(param(h, "pooler.weight").dtype() == DType::bf16);
}

TEST_CASE("legacy LayerNorm gamma/beta and cls.* heads", "[io]") {
  spt::test::TempDir tmp;
  const Model m = open_model("bert_base");
  const std::string out = (tmp / "legacy.safetensors").string();
  rewrite(*m.reader, out, [](const std::string& n) -> std::optional<std::string> {
    std::string s = "bert." + n;
    if (const size_t at = s.find("LayerNorm.weight"); at != std::string::npos) s.replace(at, 16, "LayerNorm.gamma");
    if (const size_t at = s.find("LayerNorm.bias"); at != std::string::npos) s.replace(at, 14, "LayerNorm.beta");
    return s;
  }, {{"cls.predictions.bias", Tensor::zeros({96}, DType::f32)},
      {"bert.embeddings.position_ids", Tensor::zeros({1, 64}, DType::i64)}});
  SafetensorsReader legacy(out);
  const LoadedWeights w = load_weights(m.config, legacy, ModelHead::none);
  const LoadedWeights ref = load_weights(m.config, *m.reader, ModelHead::none);
  REQUIRE(w.params.size() == ref.params.size());
  for (size_t i = 0; i < ref.params.size(); ++i) CHECK(values(w.params[i].second) == values(ref.params[i].second));
  CHECK(w.ignored == std::vector<std::string>{"bert.embeddings.position_ids", "cls.predictions.bias"});
  CHECK(w.unused.empty());
}

TEST_CASE("GPT-2 with and without transformer. prefix, Conv1D transposed, lm_head tied", "[io]") {
  const Model lm = open_model("gpt2_lm");
  const LoadedWeights w = load_weights(lm.config, *lm.reader, head_from_architectures(lm.config));
  CHECK(w.prefix == "transformer.");
  CHECK(w.newly_initialized.empty());
  CHECK(w.unused.empty());
  CHECK(count_params(param_specs(lm.config, ModelHead::causal_lm)) == 30592);  // no lm_head copy
  // spt's [out, in] is the transpose of Conv1D's [in, out].
  const Tensor& up = param(w, "layers.0.ffn.up.weight");
  REQUIRE(up.shape() == Shape{128, 32});
  const auto conv = lm.reader->load("transformer.h.0.mlp.c_fc.weight").to_doubles();  // [32, 128]
  const auto mine = up.to_doubles();
  for (int o = 0; o < 128; ++o)
    for (int i = 0; i < 32; ++i) REQUIRE(mine[static_cast<size_t>(o * 32 + i)] == conv[static_cast<size_t>(i * 128 + o)]);
  CHECK(param(w, "layers.1.attn.qkv.weight").shape() == Shape{96, 32});

  const Model base = open_model("gpt2_base");
  const LoadedWeights b = load_weights(base.config, *base.reader, ModelHead::none);
  CHECK(b.prefix.empty());
  CHECK(b.params.size() == w.params.size());

  // Old checkpoints carry attention-mask buffers and an explicit lm_head.
  spt::test::TempDir tmp;
  const std::string out = (tmp / "old.safetensors").string();
  rewrite(*base.reader, out, [](const std::string& n) { return std::optional<std::string>(n); },
          {{"h.0.attn.bias", Tensor::zeros({1, 1, 64, 64}, DType::f32)},
           {"h.1.attn.masked_bias", Tensor::zeros({}, DType::f32)},
           {"lm_head.weight", base.reader->load("wte.weight")}});
  SafetensorsReader old(out);
  const LoadedWeights o = load_weights(base.config, old, ModelHead::causal_lm);
  CHECK(o.ignored.size() == 3);
  CHECK(o.unused.empty());
  // Classification: score.weight is newly initialised.
  const LoadedWeights c = load_weights(base.config, *base.reader, ModelHead::sequence_classification);
  CHECK(c.newly_initialized == std::vector<std::string>{"classifier.weight"});
}

TEST_CASE("sharded GPT-2 loads the same parameters as the single file", "[io]") {
  const Model one = open_model("gpt2_lm");
  const Model sh = open_model("gpt2_sharded");
  CHECK_THAT(sh.reader->format(), Catch::StartsWith("sharded safetensors (3 files)"));
  CHECK(sh.reader->metadata().at("total_size") == "122368");
  const LoadedWeights a = load_weights(one.config, *one.reader, ModelHead::causal_lm);
  const LoadedWeights b = load_weights(sh.config, *sh.reader, ModelHead::causal_lm);
  REQUIRE(a.params.size() == b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) CHECK(values(a.params[i].second) == values(b.params[i].second));
}

TEST_CASE("mismatched checkpoints give one error listing every problem", "[io]") {
  spt::test::TempDir tmp;
  const Model m = open_model("bert_base");
  const std::string out = (tmp / "bad.safetensors").string();
  rewrite(*m.reader, out, [](const std::string& n) -> std::optional<std::string> {
    if (n == "encoder.layer.1.output.dense.weight" || n == "embeddings.word_embeddings.weight" ||
        n == "pooler.dense.bias")
      return std::nullopt;
    return n;
  }, {{"embeddings.word_embeddings.weight", Tensor::zeros({95, 32}, DType::f32)},
      {"pooler.dense.bias", Tensor::zeros({32}, DType::i64)}});
  SafetensorsReader bad(out);
  const std::string err = error_of([&] { load_weights(m.config, bad, ModelHead::none); });
  CHECK_THAT(err, Catch::StartsWith("[weights]") && Catch::Contains("3 problems") &&
                      Catch::Contains("missing encoder.layer.1.output.dense.weight (expected [32,64])") &&
                      Catch::Contains("embeddings.word_embeddings.weight: expected [96,32], found [95,32]") &&
                      Catch::Contains("pooler.dense.bias: dtype I64") && Catch::Contains("hint:"));
  // A GPT-2 checkpoint against a BERT config: everything is missing, one error.
  const Model g = open_model("gpt2_base");
  CHECK_THAT(error_of([&] { load_weights(m.config, *g.reader, ModelHead::none); }),
             Catch::Contains("37 problems") && Catch::Contains("the checkpoint holds 28 tensors, e.g. h.0."));
  // A LLaMA checkpoint against a BERT config: the same single error.
  const Model l = open_model("llama");
  CHECK_THAT(error_of([&] { load_weights(m.config, *l.reader, ModelHead::none); }),
             Catch::StartsWith("[weights]") && Catch::Contains("problems") && Catch::Contains("model.layers.0."));
}

TEST_CASE("to_hf_tensors inverts load_weights exactly", "[io]") {
  for (const char* name : {"bert_cls", "bert_base", "gpt2_lm", "gpt2_base", "llama"}) {
    INFO(name);
    const Model m = open_model(name);
    const ModelHead head = head_from_architectures(m.config);
    const LoadedWeights w = load_weights(m.config, *m.reader, head);
    const auto hf = to_hf_tensors(m.config, head, w.params);
    REQUIRE(hf.size() == m.reader->tensors().size());
    for (const auto& [n, t] : hf) {
      INFO(n);
      REQUIRE(m.reader->find(n) != nullptr);
      const auto raw = m.reader->raw(n);
      REQUIRE(raw.size() == t.nbytes());
      CHECK(std::memcmp(raw.data(), t.data_ptr(), raw.size()) == 0);
    }
  }
}

TEST_CASE("all-MiniLM-L6-v2 maps fully onto spt's BERT", "[io]") {
  const auto dir = spt::test::minilm_dir();
  if (!std::filesystem::exists(dir / "model.safetensors"))
    FAIL("all-MiniLM-L6-v2 not found at " << dir.string() << "; run scripts/fetch_minilm.sh");
  const ModelConfig c = load_model_config(dir.string());
  const auto r = open_tensors(dir.string());
  const ModelHead head = head_from_architectures(c);
  CHECK(head == ModelHead::none);
  const LoadedWeights w = load_weights(c, *r, head);
  CHECK(w.prefix.empty());
  CHECK(w.newly_initialized.empty());
  CHECK(w.unused.empty());
  CHECK(w.ignored == std::vector<std::string>{"embeddings.position_ids"});
  CHECK(count_params(param_specs(c, head)) == 22713216);
  int64_t loaded = 0;
  for (const auto& [n, t] : w.params) loaded += t.numel();
  CHECK(loaded == 22713216);
}
