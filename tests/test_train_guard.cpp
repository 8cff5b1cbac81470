// Guards and savings around the training step, on tiny random models:
//   * activation recomputation (runtime.recompute = attention / full) gives
//     gradients bit-identical to keeping every activation, for every family,
//     with dropout, LoRA, sparse attention and a routed FFN, and full
//     recomputation holds less memory at its peak;
//   * the non-finite guard: a NaN injected into one layer's output stops the run
//     with the step and that layer named, nothing of the step applied; with
//     train.on_nonfinite = skip the step's update is skipped and counted and the
//     run goes on (the weights after the skipped step equal those before it);
//   * TensorBoard event files mirror the JSONL metrics;
//   * "spt": true fills the SPT preset where the config is silent, and a run with
//     it builds (LoRA on the attention, sparse attention, routed FFN).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "spt/core/allocator.h"
#include "spt/io/checkpoint.h"
#include "spt/io/safetensors.h"
#include "spt/model/model.h"
#include "spt/train/config.h"
#include "spt/train/step_cost.h"
#include "spt/train/tensorboard.h"
#include "spt/train/trainer.h"
#include "tests/reference_util.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;
namespace fs = std::filesystem;

namespace {

// Dropout everywhere the family has it (the masks must replay when recomputed).
void with_dropout(TinyCase& tc) {
  tc.cfg.bert.hidden_dropout_prob = tc.cfg.bert.attention_probs_dropout_prob = 0.1;
  tc.cfg.gpt2.resid_pdrop = tc.cfg.gpt2.embd_pdrop = tc.cfg.gpt2.attn_pdrop = 0.1;
  tc.cfg.llama.attention_dropout = 0.1;
  tc.cfg.opt.dropout = tc.cfg.opt.attention_dropout = 0.1;
}

struct Pass {
  Tensor logits;
  std::map<std::string, std::vector<double>> grads;
  size_t peak = 0;  // bytes of live tensors at the pass's peak
};

// One training forward/backward (dropout on) with random weights and codebooks.
Pass training_pass(const TinyCase& tc, const model::ModelOptions& opts, model::Recompute rc) {
  ParameterStore ps(model::model_param_infos(tc.cfg, tc.head, opts), Device::cpu());
  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd(0.0, 0.2);
  for (const ParamInfo& p : ps.infos()) {
    std::vector<double> v(static_cast<size_t>(shape_numel(p.shape)));
    for (double& x : v) x = p.name.find("norm.weight") != std::string::npos ? 1.0 : nd(rng);
    ps.param(p.name).copy_from(Tensor::from_doubles(v, p.shape, DType::f32));
  }
  auto net = model::make_model(tc.cfg, tc.head, ps, opts);
  Allocator& alloc = default_allocator(Device::cpu());
  alloc.reset_peak();
  const size_t before = alloc.stats().current;
  model::StepContext ctx{true, 17, 3, 1};
  ctx.recompute = rc;
  Pass out;
  out.logits = net->forward(tc.batch, ctx).to(Device::cpu());
  net->loss(tc.labels);
  net->backward();
  out.peak = alloc.stats().peak - before;
  for (const ParamInfo& p : ps.infos())
    if (p.trainable) out.grads[p.name] = ps.grad(p.name).to_doubles();
  return out;
}

}  // namespace

TEST_CASE("recomputing activations gives bit-identical gradients", "[train][recompute]") {
  for (const char* family : {"bert", "gpt2", "llama", "opt"}) {
    for (int variant = 0; variant < 3; ++variant) {  // dense; LoRA + sparse attention; routed FFN
      INFO(family << " variant " << variant);
      TinyCase tc = tiny_case(family, 2, 19, 11);
      with_dropout(tc);
      model::ModelOptions opts;
      if (variant == 1) {
        opts.lora.enabled = true;
        opts.lora.targets = {"all-linear"};
        opts.lora.dropout = 0.1;
        opts.attention.enabled = true;
        opts.attention.select.top_l = 5;
      } else if (variant == 2) {
        opts.ffn.enabled = true;
        opts.ffn.blocks = 4;
        opts.ffn.active = 2;
        opts.ffn.balance_loss = 0.01;
      }
      const Pass a = training_pass(tc, opts, model::Recompute::none);
      for (model::Recompute rc : {model::Recompute::attention, model::Recompute::full}) {
        const Pass b = training_pass(tc, opts, rc);
        CHECK(max_abs_diff(a.logits, b.logits) == 0.0);
        REQUIRE(a.grads.size() == b.grads.size());
        for (const auto& [name, g] : a.grads) {
          INFO(name);
          CHECK(g == b.grads.at(name));
        }
      }
    }
  }
}

TEST_CASE("full recomputation holds less memory at its peak", "[train][recompute]") {
  TinyCase tc = tiny_case("bert", 4, 60, 40);
  with_dropout(tc);
  tc.cfg.bert.num_hidden_layers = 4;
  const model::ModelOptions opts;
  const size_t none = training_pass(tc, opts, model::Recompute::none).peak;
  const size_t attn = training_pass(tc, opts, model::Recompute::attention).peak;
  const size_t full = training_pass(tc, opts, model::Recompute::full).peak;
  INFO("peak bytes: none " << none << ", attention " << attn << ", full " << full);
  CHECK(attn < none);
  CHECK(full < attn);
}

namespace {

// A 6-step run of a tiny BERT (dropout on) writing to root/out.
io::Json guard_run(const fs::path& root) {
  const fs::path model = make_tiny_bert(root, 0.1);
  make_data(root / "train.tsv", 64, 3);
  io::Json j = run_config(model, root / "train.tsv", root / "out");
  j["train"]["max_steps"] = 6;
  return j;
}

}  // namespace

TEST_CASE("a NaN in a layer stops the run naming the step and the layer", "[train][nonfinite]") {
  const fs::path root = fresh_dir("nonfinite_stop");
  io::Json j = guard_run(root);
  const FaultEnv fault("4:1");  // step 4, layer 1's output
  train::Trainer t(train::resolve_config(j, (root / "cfg.json").string()));
  std::string err;
  try {
    t.train();
  } catch (const Error& e) {
    err = e.what();
  }
  INFO(err);
  CHECK(err.find("non-finite values at step 4") != std::string::npos);
  CHECK(err.find("output of layer 1") != std::string::npos);
  CHECK(err.find("train.on_nonfinite = skip") != std::string::npos);
  const auto rec = records(root / "out" / "metrics.jsonl", "nonfinite");
  REQUIRE(rec.size() == 1);
  CHECK(rec[0]["step"] == 4);
  CHECK(rec[0]["action"] == "stop");
  CHECK(records(root / "out" / "metrics.jsonl", "train").size() == 3);
  fs::remove_all(root);
}

TEST_CASE("train.on_nonfinite = skip skips and counts the step and goes on", "[train][nonfinite]") {
  const fs::path root = fresh_dir("nonfinite_skip");
  io::Json j = guard_run(root);
  j["train"]["on_nonfinite"] = "skip";
  // The skipped step changed nothing; the steps around it did.
  const fs::path out = run_skipping_step_4(j, root);
  const auto train_recs = records(out / "metrics.jsonl", "train");
  REQUIRE(train_recs.size() == 6);
  CHECK(train_recs[3]["loss"].is_null());  // the interval held only the skipped step
  CHECK(train_recs[4]["loss"].is_number());
  CHECK(train_recs[5]["skipped_steps"] == 1);
  const auto summary = records(out / "metrics.jsonl", "summary");
  REQUIRE(summary.size() == 1);
  CHECK(summary[0]["skipped_steps"] == 1);
  const auto nf = records(out / "metrics.jsonl", "nonfinite");
  REQUIRE(nf.size() == 1);
  CHECK(nf[0]["report"].get<std::string>().find("output of layer 0") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("TensorBoard event files mirror the metrics log", "[train][tensorboard]") {
  const fs::path root = fresh_dir("tensorboard_run");
  const fs::path model = make_tiny_bert(root, 0.1);
  make_data(root / "train.tsv", 64, 3);
  make_data(root / "dev.tsv", 24, 4);
  io::Json j = run_config(model, root / "train.tsv", root / "out");
  j["train"]["max_steps"] = 4;
  j["data"]["dev"] = (root / "dev.tsv").string();
  j["logging"]["tensorboard"] = true;
  train::Trainer(train::resolve_config(j, (root / "cfg.json").string())).train();
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(root / "out" / "tensorboard")) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  CHECK(files[0].filename().string().rfind("events.out.tfevents.", 0) == 0);
  const auto events = train::read_tensorboard_events(files[0].string());
  std::map<int64_t, float> loss;
  bool eval_accuracy = false, tokens = false;
  for (const auto& e : events)
    for (const auto& [tag, v] : e.values) {
      if (tag == "train/loss") loss[e.step] = v;
      eval_accuracy |= tag == "eval/accuracy";
      tokens |= tag == "train/tokens_per_second";
    }
  const auto recs = records(root / "out" / "metrics.jsonl", "train");
  REQUIRE(recs.size() == 4);
  for (const auto& r : recs) {
    const int64_t step = r["step"].get<int64_t>();
    REQUIRE(loss.count(step));
    CHECK(loss[step] == static_cast<float>(r["loss"].get<double>()));
  }
  CHECK(eval_accuracy);
  CHECK(tokens);
  fs::remove_all(root);
}

TEST_CASE("spt true fills the SPT preset where the config is silent", "[config][spt]") {
  io::Json j = {{"spt", true}, {"model", {{"path", "m"}}}, {"attention", {{"top_ratio", 0.25}}}};
  const train::ResolvedConfig c = train::resolve_config(j, "cfg.json");
  CHECK(c.str("attention.type") == "sparse");
  CHECK(c.number("attention.top_ratio") == 0.25);  // the config's own value wins
  CHECK(c.integer("attention.pq.rerank") == 2);
  CHECK(c.str("ffn.type") == "routed");
  CHECK(c.boolean("lora.enabled"));
  CHECK(c.strings("lora.targets") == std::vector<std::string>{"all-linear"});
  j["lora"] = {{"enabled", false}};
  j["ffn"] = {{"type", "dense"}};
  const train::ResolvedConfig d = train::resolve_config(j, "cfg.json");
  CHECK_FALSE(d.boolean("lora.enabled"));
  CHECK(d.str("ffn.type") == "dense");
  j.erase("spt");
  CHECK(train::resolve_config(j, "cfg.json").str("attention.type") == "dense");
  // A run in SPT mode builds on a tiny BERT: adapters on the attention, routers trained.
  const fs::path root = fresh_dir("spt_mode");
  const fs::path model = make_tiny_bert(root, 0.1, 40);
  make_data(root / "train.tsv", 64, 3);
  io::Json r = run_config(model, root / "train.tsv", root / "out");
  r["spt"] = true;
  r["train"]["max_steps"] = 3;
  r["ffn"] = {{"blocks", 4}};
  train::Trainer t(train::resolve_config(r, (root / "cfg.json").string()));
  const std::string plan = t.plan();
  INFO(plan);
  CHECK(plan.find("lora:") != std::string::npos);
  CHECK(plan.find("sparse") != std::string::npos);
  CHECK(plan.find("routed") != std::string::npos);
  CHECK(plan.find("predicted per step") != std::string::npos);
  const train::RunSummary s = t.train();
  CHECK(s.steps == 3);
  fs::remove_all(root);
}

TEST_CASE("the predicted step cost follows its formulas", "[spt][cost]") {
  // BERT-base shapes: 12 layers of d = 768, F = 3072, 12 heads of 64.
  const io::ModelConfig cfg = io::parse_model_config(
      io::Json{{"model_type", "bert"}, {"vocab_size", 30522}, {"hidden_size", 768}, {"num_hidden_layers", 12},
               {"num_attention_heads", 12}, {"intermediate_size", 3072}, {"max_position_embeddings", 512}},
      "bert-base");
  const io::ModelHead head = io::ModelHead::sequence_classification;
  const double B = 8, T = 512, N = B * T, d = 768, F = 3072, layers = 12;
  const double linear_params = layers * (4 * d * d + 2 * d * F);
  const double core = layers * 4 * B * 12 * T * T * 64;  // scores and P V, forward
  model::ModelOptions full;
  const train::StepCost cf = train::predict_step_cost(cfg, head, full, 8, 512, model::Recompute::none);
  CHECK(cf.flops == Approx(6 * N * linear_params + 3 * core).epsilon(1e-9));  // 6 N P for the linear layers
  model::ModelOptions lora;
  lora.lora.enabled = true;
  lora.lora.targets = {"attn.*"};
  const train::StepCost cl = train::predict_step_cost(cfg, head, lora, 8, 512, model::Recompute::none);
  const double adapters = layers * 4 * 2 * N * 8 * (d + d) * 3;  // 4 adapters a layer, forward and twice back
  CHECK(cl.flops == Approx(4 * N * linear_params + 3 * core + adapters).epsilon(1e-9));
  // Sparse attention at L = T/8 cuts the core to an eighth, plus the selection's look-ups.
  model::ModelOptions sparse = lora;
  sparse.attention.enabled = true;
  const train::StepCost cs = train::predict_step_cost(cfg, head, sparse, 8, 512, model::Recompute::none);
  CHECK(cs.flops == Approx(cl.flops - 3 * core + 3 * (core / 8 + layers * B * 12 * T * T * 64 / 8)).epsilon(1e-9));
  CHECK(cs.activation_bytes < 0.6 * cl.activation_bytes);  // the probabilities were half the bytes
  // Half the FFN blocks: the FFN GEMMs halve, the routers add 2 N d blocks a layer (x3).
  model::ModelOptions routed = lora;
  routed.ffn.enabled = true;
  const train::StepCost cr = train::predict_step_cost(cfg, head, routed, 8, 512, model::Recompute::none);
  CHECK(cr.flops == Approx(cl.flops - 0.5 * 4 * N * layers * 2 * d * F + 3 * layers * 2 * N * d * 8).epsilon(1e-9));
  // Recomputing everything: one more forward of the blocks, far fewer bytes kept.
  const train::StepCost cfr = train::predict_step_cost(cfg, head, full, 8, 512, model::Recompute::full);
  CHECK(cfr.flops == Approx(cf.flops + 2 * N * linear_params + core).epsilon(1e-9));
  CHECK(cfr.activation_bytes < cf.activation_bytes / 4);
  const std::string table = train::step_cost_table(cfg, head, sparse, 8, 512, model::Recompute::none);
  CHECK(table.find("dense full fine-tuning") != std::string::npos);
  CHECK(table.find("this run (LoRA, sparse attention)") != std::string::npos);
}
