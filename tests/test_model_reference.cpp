// Exactness against Hugging Face transformers (fixtures written by
// tools/fixtures/reference_outputs.py): for tiny random models, logits max abs
// diff <= 1e-4, loss relative diff <= 1e-5, every parameter gradient relative
// L2 error <= 1e-3, for a padded batch in fp32 on the CPU; for the real
// all-MiniLM-L6-v2, last hidden states max abs diff <= 1e-4.
#include <catch2/catch.hpp>
#include <cmath>

#include "spt/io/model_config.h"
#include "spt/io/safetensors.h"
#include "spt/model/bert.h"
#include "spt/model/gpt2.h"
#include "tests/test_paths.h"

using namespace spt;

namespace {

Tensor load_i32(const io::SafetensorsReader& r, const std::string& name) {
  const Tensor t = r.load(name);
  return Tensor::from_ints(t.to_ints(), t.shape(), DType::i32);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_doubles(), y = b.to_doubles();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Relative L2 error ||got - want|| / ||want||. Gradients that are zero in exact
// arithmetic (the attention key bias: adding q.b to a whole softmax row changes
// nothing) come out as rounding noise (~1e-13) on both sides; there an absolute
// error below 1e-10 counts as a match (the result is then reported as 0).
double rel_l2(const Tensor& got, const Tensor& want) {
  const auto x = got.to_doubles(), y = want.to_doubles();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  if (std::sqrt(num) <= 1e-10) return 0.0;
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Copies an HF BertForSequenceClassification / BertModel checkpoint into spt's store.
void load_bert(ParameterStore& ps, const io::TensorReader& r) {
  for (const ParamInfo& p : ps.infos()) {
    const std::string hf = r.find("bert." + p.name) ? "bert." + p.name : p.name;
    ps.param(p.name).copy_from(r.load(hf, DType::f32));
  }
}

void check_bert_case(const std::string& name) {
  const auto dir = test::fixtures_dir() / "reference" / name;
  const io::ModelConfig cfg = io::load_model_config((dir / "config.json").string());
  ParameterStore ps(model::bert_param_infos(cfg.bert, cfg.num_labels), Device::cpu());
  load_bert(ps, io::SafetensorsReader((dir / "model.safetensors").string()));
  model::BertClassifier net(cfg.bert, cfg.num_labels, ps);

  const io::SafetensorsReader ref((dir / "reference.safetensors").string());
  model::EncoderBatch batch{load_i32(ref, "input_ids"), load_i32(ref, "token_type_ids"),
                            load_i32(ref, "attention_mask")};
  const Tensor& logits = net.forward(batch, model::StepContext{});
  CHECK(max_abs_diff(logits, ref.load("logits")) <= 1e-4);
  const Tensor labels = cfg.num_labels == 1 ? ref.load("labels", DType::f32) : load_i32(ref, "labels");
  const double loss = net.loss(labels);
  const double want = ref.load("loss").to_doubles()[0];
  CHECK(std::abs(loss - want) <= 1e-5 * std::abs(want));
  ps.zero_grads();
  net.backward();
  for (const ParamInfo& p : ps.infos()) {
    const std::string hf = ref.find("grad.bert." + p.name) ? "grad.bert." + p.name : "grad." + p.name;
    INFO(name << ": gradient of " << p.name);
    CHECK(rel_l2(ps.grad(p.name), ref.load(hf)) <= 1e-3);
  }
}

// Copies an HF GPT-2 checkpoint into spt's store (Conv1D weights transposed).
void load_gpt2(ParameterStore& ps, const io::TensorReader& r) {
  for (const ParamInfo& p : ps.infos()) {
    const std::string hf = r.find("transformer." + p.name) ? "transformer." + p.name : p.name;
    Tensor t = r.load(hf, DType::f32);
    if (model::gpt2_is_conv1d(p.name)) {
      const auto v = t.to_doubles();
      const int64_t rows = t.dim(0), cols = t.dim(1);
      std::vector<double> tr(v.size());
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) tr[j * rows + i] = v[i * cols + j];
      t = Tensor::from_doubles(tr, {cols, rows}, DType::f32);
    }
    ps.param(p.name).copy_from(t);
  }
}

Tensor transpose2d(const Tensor& t) {
  const auto v = t.to_doubles();
  const int64_t rows = t.dim(0), cols = t.dim(1);
  std::vector<double> tr(v.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) tr[j * rows + i] = v[i * cols + j];
  return Tensor::from_doubles(tr, {cols, rows}, DType::f32);
}

template <class Net>
void check_gpt2_case(const std::string& name, Net& net, ParameterStore& ps,
                     const io::SafetensorsReader& ref, const Tensor& labels) {
  model::EncoderBatch batch{load_i32(ref, "input_ids"), Tensor(), load_i32(ref, "attention_mask")};
  const Tensor& logits = net.forward(batch, model::StepContext{});
  CHECK(max_abs_diff(logits, ref.load("logits")) <= 1e-4);
  const double loss = net.loss(labels);
  const double want = ref.load("loss").to_doubles()[0];
  CHECK(std::abs(loss - want) <= 1e-5 * std::abs(want));
  ps.zero_grads();
  net.backward();
  for (const ParamInfo& p : ps.infos()) {
    const std::string hf =
        ref.find("grad.transformer." + p.name) ? "grad.transformer." + p.name : "grad." + p.name;
    INFO(name << ": gradient of " << p.name);
    Tensor want_g = ref.load(hf);
    if (model::gpt2_is_conv1d(p.name)) want_g = transpose2d(want_g);
    CHECK(rel_l2(ps.grad(p.name), want_g) <= 1e-3);
  }
}

}  // namespace

TEST_CASE("GPT-2 causal LM matches transformers", "[model][gpt2]") {
  const auto dir = test::fixtures_dir() / "reference" / "gpt2_lm";
  const io::ModelConfig cfg = io::load_model_config((dir / "config.json").string());
  ParameterStore ps(model::gpt2_param_infos(cfg.gpt2, 0), Device::cpu());
  load_gpt2(ps, io::SafetensorsReader((dir / "model.safetensors").string()));
  model::Gpt2LanguageModel net(cfg.gpt2, ps);
  const io::SafetensorsReader ref((dir / "reference.safetensors").string());
  check_gpt2_case("gpt2_lm", net, ps, ref, load_i32(ref, "labels"));
}

TEST_CASE("GPT-2 sequence classification matches transformers", "[model][gpt2]") {
  const auto dir = test::fixtures_dir() / "reference" / "gpt2_cls";
  const io::ModelConfig cfg = io::load_model_config((dir / "config.json").string());
  ParameterStore ps(model::gpt2_param_infos(cfg.gpt2, cfg.num_labels), Device::cpu());
  load_gpt2(ps, io::SafetensorsReader((dir / "model.safetensors").string()));
  model::Gpt2Classifier net(cfg.gpt2, cfg.num_labels, ps);
  const io::SafetensorsReader ref((dir / "reference.safetensors").string());
  check_gpt2_case("gpt2_cls", net, ps, ref, load_i32(ref, "labels"));
}

TEST_CASE("BERT sequence classification matches transformers", "[model][bert]") {
  check_bert_case("bert_cls");
}

TEST_CASE("BERT regression (num_labels = 1, MSE) matches transformers", "[model][bert]") {
  check_bert_case("bert_reg");
}

TEST_CASE("all-MiniLM-L6-v2 hidden states match transformers", "[model][bert][minilm]") {
  const auto dir = test::minilm_dir();
  INFO("needs " << dir << "; run scripts/fetch_minilm.sh");
  REQUIRE(std::filesystem::exists(dir / "model.safetensors"));
  const io::ModelConfig cfg = io::load_model_config((dir / "config.json").string());
  ParameterStore ps(model::bert_param_infos(cfg.bert, 0), Device::cpu());
  load_bert(ps, io::SafetensorsReader((dir / "model.safetensors").string()));
  model::BertEncoder enc(cfg.bert, ps);
  const io::SafetensorsReader ref(
      (test::fixtures_dir() / "reference" / "minilm" / "reference.safetensors").string());
  model::EncoderBatch batch{load_i32(ref, "input_ids"), load_i32(ref, "token_type_ids"),
                            load_i32(ref, "attention_mask")};
  const Tensor& hidden = enc.forward(batch, model::StepContext{});
  CHECK(max_abs_diff(hidden, ref.load("last_hidden_state")) <= 1e-4);
  CHECK(max_abs_diff(enc.pooled(), ref.load("pooler_output")) <= 1e-4);
}
