// Exactness against Hugging Face transformers (fixtures written by
// tools/fixtures/reference_outputs.py): for tiny random models, logits max abs
// diff <= 1e-4, loss relative diff <= 1e-5, every parameter gradient relative
// L2 error <= 1e-3, for a padded batch in fp32 on the CPU; for the real
// all-MiniLM-L6-v2, last hidden states max abs diff <= 1e-4.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "spt/io/gguf_import.h"
#include "spt/io/model_config.h"
#include "spt/io/safetensors.h"
#include "spt/io/weight_map.h"
#include "spt/model/bert.h"
#include "spt/model/gpt2.h"
#include "spt/model/model.h"
#include "spt/core/allocator.h"
#include "tests/reference_util.h"
#include "tests/train_util.h"
#include "tests/test_paths.h"

using namespace spt;
using namespace spt::test;

namespace {

void check_grads(const std::string& name, ParameterStore& ps, const io::ModelConfig& cfg,
                 io::ModelHead head, const io::SafetensorsReader& ref) {
  std::vector<std::pair<std::string, Tensor>> grads;
  for (const ParamInfo& p : ps.infos()) grads.emplace_back(p.name, ps.grad(p.name));
  for (const auto& [hf, g] : io::to_hf_tensors(cfg, head, grads)) {
    INFO(name << ": gradient of " << hf);
    REQUIRE(ref.find("grad." + hf) != nullptr);
    const Tensor want = ref.load("grad." + hf);
    // A key bias's gradient is 0 in exact arithmetic (softmax ignores a shift
    // shared by a query's scores): both sides are rounding noise, compared absolutely.
    double norm_want = 0, norm_got = 0;
    for (const double v : want.to_doubles()) norm_want += v * v;
    for (const double v : g.to_doubles()) norm_got += v * v;
    if (std::sqrt(norm_want) < 1e-6) {
      CHECK(std::sqrt(norm_got) < 1e-5);
      continue;
    }
    CHECK(rel_l2(g, want) <= 1e-3);
  }
}

void check_case(const std::string& name, io::ModelHead head, bool token_types) {
  const auto dir = test::fixtures_dir() / "reference" / name;
  const io::ModelConfig cfg = io::load_model_config((dir / "config.json").string());
  ParameterStore ps(model::model_param_infos(cfg, head), Device::cpu());
  load_hf(ps, cfg, head, dir / "model.safetensors");
  const auto net = model::make_model(cfg, head, ps);

  const io::SafetensorsReader ref((dir / "reference.safetensors").string());
  model::EncoderBatch batch{load_i32(ref, "input_ids"),
                            token_types ? load_i32(ref, "token_type_ids") : Tensor(),
                            load_i32(ref, "attention_mask")};
  const Tensor& logits = net->forward(batch, model::StepContext{});
  CHECK(max_abs_diff(logits, ref.load("logits")) <= 1e-4);
  const bool regression = cfg.num_labels == 1 && head == io::ModelHead::sequence_classification;
  const Tensor labels = regression ? ref.load("labels", DType::f32) : load_i32(ref, "labels");
  const double loss = net->loss(labels);
  const double want = ref.load("loss").to_doubles()[0];
  CHECK(std::abs(loss - want) <= 1e-5 * std::abs(want));
  ps.zero_grads();
  net->backward();
  check_grads(name, ps, cfg, head, ref);
}

}  // namespace

TEST_CASE("BERT sequence classification matches transformers", "[model][bert]") {
  check_case("bert_cls", io::ModelHead::sequence_classification, true);
}

TEST_CASE("BERT regression (num_labels = 1, MSE) matches transformers", "[model][bert]") {
  check_case("bert_reg", io::ModelHead::sequence_classification, true);
}

TEST_CASE("GPT-2 causal LM matches transformers", "[model][gpt2]") {
  check_case("gpt2_lm", io::ModelHead::causal_lm, false);
}

TEST_CASE("GPT-2 causal LM with an untied lm_head matches transformers", "[model][gpt2]") {
  // tie_word_embeddings = false: logits come from lm_head.weight, which gets its
  // own gradient, and wte's gradient is the embedding's alone.
  check_case("gpt2_lm_untied", io::ModelHead::causal_lm, false);
}

TEST_CASE("GPT-2 sequence classification matches transformers", "[model][gpt2]") {
  check_case("gpt2_cls", io::ModelHead::sequence_classification, false);
}

TEST_CASE("LLaMA causal LM with grouped-query attention and a tied head matches transformers",
          "[model][llama]") {
  check_case("llama_lm_gqa", io::ModelHead::causal_lm, false);
}

TEST_CASE("LLaMA causal LM with linear RoPE scaling and an untied head matches transformers",
          "[model][llama]") {
  check_case("llama_lm_linear", io::ModelHead::causal_lm, false);
}

TEST_CASE("LLaMA causal LM with dynamic (NTK) RoPE beyond max_position_embeddings matches transformers",
          "[model][llama]") {
  check_case("llama_lm_dynamic", io::ModelHead::causal_lm, false);
}

TEST_CASE("LLaMA causal LM with llama3 RoPE and one key/value head matches transformers",
          "[model][llama]") {
  check_case("llama_lm_llama3", io::ModelHead::causal_lm, false);
}

TEST_CASE("LLaMA sequence classification with attention and MLP biases matches transformers",
          "[model][llama]") {
  check_case("llama_cls", io::ModelHead::sequence_classification, false);
}

TEST_CASE("OPT causal LM (pre-LN, tied head) matches transformers", "[model][opt]") {
  check_case("opt_lm", io::ModelHead::causal_lm, false);
}

TEST_CASE("OPT causal LM with post-LN, project_in/out and an untied head matches transformers", "[model][opt]") {
  // do_layer_norm_before = false and word_embed_proj_dim != hidden_size, as OPT-350m.
  check_case("opt_lm_post_ln", io::ModelHead::causal_lm, false);
}

TEST_CASE("OPT sequence classification without biases matches transformers", "[model][opt]") {
  check_case("opt_cls", io::ModelHead::sequence_classification, false);
}

TEST_CASE("all-MiniLM-L6-v2 hidden states match transformers", "[model][bert][minilm]") {
  const auto dir = test::minilm_dir();
  INFO("needs " << dir << "; run scripts/fetch_minilm.sh");
  REQUIRE(std::filesystem::exists(dir / "model.safetensors"));
  const io::ModelConfig cfg = io::load_model_config((dir / "config.json").string());
  ParameterStore ps(model::model_param_infos(cfg, io::ModelHead::none), Device::cpu());
  load_hf(ps, cfg, io::ModelHead::none, dir / "model.safetensors");
  model::BertEncoder enc(cfg.bert, ps);
  const io::SafetensorsReader ref(
      (test::fixtures_dir() / "reference" / "minilm" / "reference.safetensors").string());
  model::EncoderBatch batch{load_i32(ref, "input_ids"), load_i32(ref, "token_type_ids"),
                            load_i32(ref, "attention_mask")};
  const Tensor& hidden = enc.forward(batch, model::StepContext{});
  CHECK(max_abs_diff(hidden, ref.load("last_hidden_state")) <= 1e-4);
  CHECK(max_abs_diff(enc.pooled(), ref.load("pooler_output")) <= 1e-4);
}

TEST_CASE("SmolLM2-135M from its GGUF file matches transformers on State of the Union text",
          "[model][llama][smollm2]") {
  // Fixture: tools/fixtures/smollm2_reference.py (transformers reading the same
  // GGUF file): per position the argmax, the log-sum-exp of the whole logit row,
  // and 32 sampled logits (the 24 largest and 8 random columns).
  const auto path = test::smollm2_gguf();
  INFO("needs " << path << "; run scripts/fetch_smollm2.sh");
  REQUIRE(std::filesystem::exists(path));
  io::GgufModel g = io::open_gguf_model(path.string());
  const io::ModelConfig cfg = io::parse_model_config(io::Json::parse(g.config.dump()), path.string());
  CHECK(cfg.llama.num_key_value_heads == 3);
  ParameterStore ps(model::model_param_infos(cfg, io::ModelHead::causal_lm), Device::cpu());
  for (const auto& [name, t] : io::load_weights(cfg, *g.tensors, io::ModelHead::causal_lm).params)
    ps.param(name).copy_from(t);
  const auto net = model::make_model(cfg, io::ModelHead::causal_lm, ps);
  const io::SafetensorsReader ref(
      (test::fixtures_dir() / "reference" / "smollm2" / "reference.safetensors").string());
  const model::EncoderBatch batch{load_i32(ref, "input_ids"), Tensor(), load_i32(ref, "attention_mask")};
  const Tensor& logits = net->forward(batch, model::StepContext{});
  const int64_t B = logits.dim(0), T = logits.dim(1), V = logits.dim(2);
  const std::vector<double> l = logits.to_doubles(), lse = ref.load("lse").to_doubles(),
                            vals = ref.load("vals").to_doubles();
  const std::vector<int64_t> mask = ref.load("attention_mask").to_ints(), argmax = ref.load("argmax").to_ints(),
                             cols = ref.load("cols").to_ints();
  const int64_t K = static_cast<int64_t>(cols.size()) / (B * T);
  double max_diff = 0, max_lse_diff = 0;
  int64_t positions = 0, same = 0;
  for (int64_t r = 0; r < B * T; ++r) {
    if (mask[r] == 0) continue;
    const double* row = &l[r * V];
    int64_t best = 0;
    double mx = row[0];
    for (int64_t v = 1; v < V; ++v)
      if (row[v] > mx) mx = row[v], best = v;
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(row[v] - mx);
    max_lse_diff = std::max(max_lse_diff, std::abs(mx + std::log(z) - lse[r]));
    for (int64_t c = 0; c < K; ++c) max_diff = std::max(max_diff, std::abs(row[cols[r * K + c]] - vals[r * K + c]));
    ++positions;
    same += best == argmax[r];
  }
  INFO("max |logit diff| " << max_diff << ", max |lse diff| " << max_lse_diff << ", argmax " << same << "/"
                           << positions);
  CHECK(max_diff <= 1e-3);
  CHECK(max_lse_diff <= 1e-3);
  CHECK(static_cast<double>(same) >= 0.999 * static_cast<double>(positions));
  WARN("SmolLM2 vs transformers: max |logit diff| " << max_diff << ", max |lse diff| " << max_lse_diff
                                                    << ", argmax " << same << "/" << positions);
}

TEST_CASE("a forward pass with nothing kept for backward gives the same logits in less memory", "[model]") {
  // StepContext::keep_saved = false (evaluation, prediction): every block drops
  // its saved activations when it is done.
  const TinyCase tc = tiny_case("llama", 3, 40, 25);
  ParameterStore ps(model::model_param_infos(tc.cfg, tc.head), Device::cpu());
  randomize_params(ps, 3, 0.1);
  Allocator& alloc = default_allocator(Device::cpu());
  size_t peak[2] = {0, 0};
  Tensor logits[2];
  for (int keep = 0; keep < 2; ++keep) {
    auto net = model::make_model(tc.cfg, tc.head, ps);
    model::StepContext ctx;
    ctx.keep_saved = keep == 1;
    const size_t base = alloc.stats().current;
    alloc.reset_peak();
    logits[keep] = net->forward(tc.batch, ctx).clone();
    peak[keep] = alloc.stats().peak - base;
  }
  CHECK(max_abs_diff(logits[0], logits[1]) == 0.0);
  INFO("peak bytes: forward only " << peak[0] << ", keeping saved " << peak[1]);
  CHECK(peak[0] < peak[1] * 3 / 4);
}

TEST_CASE("decoder classification without a pad token reads each row's last real token", "[model][gpt2]") {
  // GPT-2 checkpoints have no pad_token_id: a padded row must give the logits it
  // gives alone, unpadded (transformers refuses such batches; spt uses the mask).
  TinyCase tc = tiny_case("gpt2", 2, 12, 7);
  tc.head = io::ModelHead::sequence_classification;
  REQUIRE_FALSE(tc.cfg.gpt2.pad_token_id.has_value());
  ParameterStore ps(model::model_param_infos(tc.cfg, tc.head), Device::cpu());
  randomize_params(ps, 9, 0.1);
  auto net = model::make_model(tc.cfg, tc.head, ps);
  const std::vector<double> both = net->forward(tc.batch, model::StepContext{}).to_doubles();
  // Row 1 alone: its first 7 tokens.
  const std::vector<int64_t> ids = tc.batch.input_ids.to_ints();
  const std::vector<int64_t> row1(ids.begin() + 12, ids.begin() + 19);
  const model::EncoderBatch alone{Tensor::from_ints(row1, {1, 7}, DType::i32), Tensor(), Tensor()};
  const std::vector<double> single = net->forward(alone, model::StepContext{}).to_doubles();
  const int64_t L = tc.cfg.num_labels;
  for (int64_t j = 0; j < L; ++j) CHECK(std::abs(both[L + j] - single[j]) <= 1e-5);
}

TEST_CASE("a mean-pooled BERT classifier reads the mean of the valid tokens' hidden states", "[model][bert]") {
  // model.pooling = mean (sentence-transformers' pooling): logits = classifier(mean
  // over unpadded tokens of the last hidden states); padding changes nothing; the
  // pooler is frozen and unused.
  TinyCase tc = tiny_case("bert", 2, 12, 7);
  model::ModelOptions opts;
  opts.pooling = model::Pooling::mean;
  ParameterStore ps(model::model_param_infos(tc.cfg, tc.head, opts), Device::cpu());
  randomize_params(ps, 11, 0.1);
  REQUIRE_FALSE(ps.info("pooler.weight").trainable);
  auto net = model::make_model(tc.cfg, tc.head, ps, opts);
  auto& bert = dynamic_cast<model::BertClassifier&>(*net);
  const std::vector<double> logits = net->forward(tc.batch, model::StepContext{}).to_doubles();
  const std::vector<double> hidden = bert.encoder().forward(tc.batch, model::StepContext{}).to_doubles();
  const std::vector<double> w = ps.param("classifier.weight").to_doubles(), bias = ps.param("classifier.bias").to_doubles();
  const int64_t C = tc.cfg.bert.hidden_size, T = 12, L = tc.cfg.num_labels;
  for (int64_t b = 0; b < 2; ++b) {
    const int64_t n = b == 1 ? 7 : T;  // row 1 is padded from token 7
    std::vector<double> mean(static_cast<size_t>(C), 0.0);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t c = 0; c < C; ++c) mean[c] += hidden[(b * T + t) * C + c] / static_cast<double>(n);
    for (int64_t j = 0; j < L; ++j) {
      double z = bias[j];
      for (int64_t c = 0; c < C; ++c) z += w[j * C + c] * mean[c];
      CHECK(std::abs(logits[b * L + j] - z) <= 1e-5);
    }
  }
  // Row 1 alone, unpadded, gives the same logits.
  const std::vector<int64_t> ids = tc.batch.input_ids.to_ints();
  const std::vector<int64_t> row1(ids.begin() + 12, ids.begin() + 19);
  const model::EncoderBatch alone{Tensor::from_ints(row1, {1, 7}, DType::i32), Tensor(), Tensor()};
  const std::vector<double> single = net->forward(alone, model::StepContext{}).to_doubles();
  for (int64_t j = 0; j < L; ++j) CHECK(std::abs(logits[L + j] - single[j]) <= 1e-5);
  // Backward: the largest of the first 64 gradient entries of a weight below the
  // pooling matches a central difference of the loss.
  net->forward(tc.batch, model::StepContext{});
  net->loss(tc.labels);
  ps.zero_grads();
  net->backward();
  REQUIRE_FALSE(ps.grad("pooler.weight").defined());
  for (const std::string name : {"layers.0.attn.q.weight", "layers.1.ffn.up.weight", "embeddings.word.weight"}) {
    const std::vector<double> g = ps.grad(name).to_doubles();
    size_t k = 0;
    for (size_t i = 0; i < 64; ++i)
      if (std::abs(g[i]) > std::abs(g[k])) k = i;
    std::vector<double> v = ps.param(name).to_doubles();
    const double v0 = v[k], eps = 1e-2;
    auto loss_at = [&](double x) {
      v[k] = x;
      ps.param(name).copy_from(Tensor::from_doubles(v, ps.param(name).shape(), DType::f32));
      net->forward(tc.batch, model::StepContext{});
      return net->loss(tc.labels);
    };
    const double fd = (loss_at(v0 + eps) - loss_at(v0 - eps)) / (2 * eps);
    loss_at(v0);
    INFO(name << "[" << k << "]: backward " << g[k] << ", central difference " << fd);
    CHECK(std::abs(g[k] - fd) <= 2e-2 * std::abs(fd) + 1e-5);
  }
  // Decoder families refuse it.
  TinyCase dec = tiny_case("gpt2", 2, 12, 7);
  dec.head = io::ModelHead::sequence_classification;
  ParameterStore dps(model::model_param_infos(dec.cfg, dec.head, opts), Device::cpu());
  CHECK_THROWS_WITH(model::make_model(dec.cfg, dec.head, dps, opts),
                    Catch::Contains("model.pooling = mean is for BERT-family encoders"));
}
