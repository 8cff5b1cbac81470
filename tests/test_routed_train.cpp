// The routed FFN in whole models and runs, on tiny random BERT and GPT-2:
//   * with every block kept and zero routers (gates 1), a routed model's logits
//     and gradients equal the dense model's;
//   * a routed run fits its routers, saves them in spt_tensors.safetensors,
//     reports the share and router load, and spt-predict / export-hf handle its
//     checkpoint (the exported model is the dense one, same FFN weights);
//   * malformed ffn settings give clear errors.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "spt/core/error.h"
#include "spt/io/checkpoint.h"
#include "spt/io/safetensors.h"
#include "spt/model/model.h"
#include "spt/model/routed_ffn.h"
#include "spt/train/config.h"
#include "spt/train/trainer.h"
#include "tests/reference_util.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;

namespace {

// One forward/backward; routers (if any) zero, or random when `random_routers`.
TinyPass run_pass(const TinyCase& tc, const model::ModelOptions& opts, bool random_routers = false) {
  return tiny_pass(tc, opts, [&](ParameterStore& ps) {
    std::mt19937_64 rng(11);
    std::normal_distribution<double> nd(0.0, 0.2);
    for (const ParamInfo& p : ps.infos()) {
      const bool router = p.name.find("router") != std::string::npos;
      std::vector<double> v(static_cast<size_t>(shape_numel(p.shape)));
      for (double& x : v) x = p.name.find("norm.weight") != std::string::npos ? 1.0 : nd(rng);
      if (router && !random_routers) std::fill(v.begin(), v.end(), 0.0);
      ps.param(p.name).copy_from(Tensor::from_doubles(v, p.shape, DType::f32));
    }
  });
}

}  // namespace

TEST_CASE("a routed model keeping every block with zero routers equals the dense model", "[routed][model]") {
  const int64_t B = 2, T = 13;
  for (const char* family : {"bert", "gpt2", "llama", "opt"}) {
    INFO(family);
    const TinyCase tc = tiny_case(family, B, T, 9);
    model::ModelOptions dense, routed;
    routed.ffn.enabled = true;
    routed.ffn.blocks = 4;
    routed.ffn.active = 4;
    routed.ffn.layers = {1};  // one routed layer beside a dense one
    for (RouteGate gate : {RouteGate::sigmoid, RouteGate::softmax}) {
      routed.ffn.gate = gate;
      const TinyPass a = run_pass(tc, dense);
      const TinyPass b = run_pass(tc, routed);
      check_same_pass(a, b);
      CHECK(b.grads.count("layers.1.ffn.router.weight"));
      CHECK_FALSE(b.grads.count("layers.0.ffn.router.weight"));
    }
    // Fewer blocks per token change the result (the routed path really runs).
    routed.ffn.active = 2;
    const TinyPass c = run_pass(tc, routed, true);
    const TinyPass a = run_pass(tc, dense);
    CHECK(rel_l2(c.logits, a.logits) > 1e-4);
  }
}

TEST_CASE("with LoRA on every linear, a routed model keeping every block equals the dense LoRA model",
          "[routed][model][lora]") {
  // The adapters of a routed layer's up / down (and LLaMA's gate) run inside its
  // blocks (ops::BlockLora); with every block kept and gates 1 that is the dense
  // layer with the same adapters: logits and every adapter gradient agree.
  const int64_t B = 2, T = 11;
  for (const char* family : {"bert", "gpt2", "llama", "opt"}) {
    INFO(family);
    const TinyCase tc = tiny_case(family, B, T, 9);
    model::ModelOptions dense;
    dense.lora.enabled = true;
    dense.lora.rank = 3;
    dense.lora.alpha = 6;
    dense.lora.targets = {"all-linear"};
    model::ModelOptions routed = dense;
    routed.ffn.enabled = true;
    routed.ffn.blocks = 4;
    routed.ffn.active = 4;
    const TinyPass a = run_pass(tc, dense);
    const TinyPass b = run_pass(tc, routed);
    check_same_pass(a, b);
    for (const char* name : {"layers.0.ffn.up.lora_B", "layers.1.ffn.down.lora_A"}) {
      INFO(name);
      REQUIRE(b.grads.count(name));
      CHECK(max_abs_diff(b.grads.at(name), Tensor::zeros(b.grads.at(name).shape(), DType::f32)) > 0);
    }
    // Half the blocks: the adapters still train (and the result differs).
    routed.ffn.active = 2;
    const TinyPass c = run_pass(tc, routed, true);
    CHECK(rel_l2(c.logits, a.logits) > 1e-4);
    const Tensor& g = c.grads.at("layers.1.ffn.up.lora_A");
    CHECK(max_abs_diff(g, Tensor::zeros(g.shape(), DType::f32)) > 0);
  }
}

TEST_CASE("the co-activation permutation leaves the dense model's output unchanged", "[routed][model]") {
  for (const char* family : {"bert", "llama"}) {  // plain and gated (SwiGLU) FFNs
    INFO(family);
    TinyCase tc = tiny_case(family, 4, 16, 10);
    const io::ModelConfig& cfg = tc.cfg;
    const io::ModelHead head = tc.head;
    model::ModelOptions opts;
    opts.ffn.enabled = true;
    opts.ffn.blocks = 4;
    opts.ffn.active = 2;
    ParameterStore ps(model::model_param_infos(cfg, head, opts), Device::cpu());
    randomize_params(ps, 5, 0.3);
    auto net = model::make_model(cfg, head, ps, opts);
    const model::EncoderBatch& batch = tc.batch;
    struct Inputs : model::FfnProbe {
      model::KeySamples samples{4096};
      void inputs(int64_t layer, const Tensor& x, const Tensor& m) override { samples.add(layer, x, m); }
    } probe;
    model::StepContext ctx;
    ctx.dense_ffn = true;
    ctx.ffn_probe = &probe;
    const Tensor before = net->forward(batch, ctx).to(Device::cpu());
    const Tensor up_before = ps.param("layers.1.ffn.up.weight").to(Device::cpu());
    const auto shares = model::permute_neurons(ps, cfg, opts.ffn, probe.samples, 9);
    REQUIRE(shares.size() == 2);
    for (const auto& [layer, s] : shares) CHECK(s.second >= s.first - 1e-9);  // the best share never drops
    CHECK(max_abs_diff(ps.param("layers.1.ffn.up.weight"), up_before) > 0.1);  // the neurons moved
    ctx.ffn_probe = nullptr;
    const Tensor after = net->forward(batch, ctx).to(Device::cpu());
    CHECK(max_abs_diff(after, before) <= 1e-5);
  }
}

TEST_CASE("a routed run fits, trains and saves its routers and reports share and load", "[routed][train]") {
  const fs::path root = fresh_dir("routed_run");
  const fs::path model = make_tiny_bert(root, 0.1, 40);
  make_data(root / "train.tsv", 64, 3);
  io::Json j = run_config(model, root / "train.tsv", root / "out");
  j["train"]["max_steps"] = 10;
  j["data"]["dev"] = (root / "train.tsv").string();
  j["eval"]["every_epoch"] = true;
  j["ffn"] = {{"type", "routed"}, {"blocks", 4}, {"active", 2}, {"layers", {"1"}}, {"calibration_batches", 2},
              {"balance_loss", 0.01}};
  j["output"]["save_final"] = true;
  const std::string cfg_path = write_config(root / "run.json", j);
  REQUIRE(wait_exit(spawn({SPT_FINETUNE_BIN, "--config", cfg_path})) == 0);

  const fs::path final_dir = root / "out" / "final";
  const io::SafetensorsReader own((final_dir / "spt_tensors.safetensors").string());
  REQUIRE(own.find("layers.1.ffn.router.weight") != nullptr);
  CHECK(own.find("layers.0.ffn.router.weight") == nullptr);  // layer 0 is dense
  CHECK(own.find("layers.1.ffn.router.weight")->shape == Shape{4, 32});
  CHECK(own.find("layers.1.ffn.router.bias")->shape == Shape{4});
  const io::Json saved = io::read_json_file((final_dir / "config.json").string(), "test");
  CHECK(saved.at("spt").at("ffn").at("active") == 2);

  bool fit = false, eval = false, load = false;
  std::ifstream in(root / "out" / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const io::Json r = io::Json::parse(line);
    if (r.at("type") == "router_fit") {
      fit = true;
      // The fitted router does at least as well as a token-blind choice, and never beats the best one.
      CHECK(r.at("ffn_share").get<double>() > 0.5 - 1e-9);
      CHECK(r.at("ffn_share").get<double>() <= r.at("ffn_share_best").get<double>() + 1e-9);
      // Permuting never lowers the best share.
      CHECK(r.at("ffn_share_best").get<double>() >= r.at("ffn_share_best_unpermuted").get<double>() - 1e-9);
    }
    if (r.at("type") == "eval") {
      eval = true;
      CHECK(r.at("ffn_share").get<double>() > 0.0);
      CHECK(r.at("ffn_layers").contains("1"));
    }
    if (r.at("type") == "train" && r.contains("router_load")) {
      load = true;
      const io::Json& l1 = r.at("router_load").at("1");
      int64_t total = 0;
      for (const auto& v : l1.at("tokens")) total += v.get<int64_t>();
      CHECK(total > 0);
      CHECK(l1.at("imbalance").get<double>() >= 1.0);
      // Switch's balance loss weight x blocks x sum_b f_b P_b lies in (0, weight x blocks].
      CHECK(r.at("balance_loss").get<double>() > 0.0);
      CHECK(r.at("balance_loss").get<double>() <= 0.01 * 4 + 1e-9);
    }
  }
  CHECK(fit);
  CHECK(eval);
  CHECK(load);

  // The checkpoint runs in spt-predict; the Hugging Face export leaves the routers out and says so.
  CHECK(wait_exit(spawn({SPT_PREDICT_BIN, "--model", final_dir.string(), "--data", (root / "train.tsv").string(),
                         "--output", (root / "pred.jsonl").string()})) == 0);
  CHECK(fs::exists(root / "pred.jsonl"));
  const auto left_out = io::export_hf(final_dir.string(), (root / "hf").string());
  bool noted = false;
  for (const std::string& l : left_out) noted = noted || l.find("FFN router") != std::string::npos;
  CHECK(noted);
  fs::remove_all(root);
}

TEST_CASE("malformed ffn settings give clear errors", "[config][routed]") {
  const fs::path root = fresh_dir("routed_cfg");
  const fs::path model = make_tiny_bert(root, 0.0, 40);
  make_data(root / "train.tsv", 16, 1);
  auto with = [&](const io::Json& ffn) {
    io::Json j = run_config(model, root / "train.tsv", root / "out");
    j["ffn"] = ffn;
    return trainer_error(j, root);
  };
  // The tiny BERT has 2 layers and 40 FFN neurons.
  CHECK_THAT(with({{"type", "routed"}, {"blocks", 4}, {"active", 5}}),
             Catch::Contains("ffn.active = 5 blocks per token, but there are 4 blocks"));
  CHECK_THAT(with({{"type", "routed"}, {"blocks", 3}}),
             Catch::Contains("ffn.blocks = 3 does not divide the intermediate size 40") &&
                 Catch::Contains("such as 8"));
  CHECK_THAT(with({{"type", "routed"}, {"blocks", 0}}), Catch::Contains("ffn.blocks") && Catch::Contains("out of range"));
  CHECK_THAT(with({{"type", "routed"}, {"layers", {"0", "2"}}}), Catch::Contains("names layer 2") && Catch::Contains("0..1"));
  CHECK_THAT(with({{"type", "routed"}, {"layers", {"x"}}}),
             Catch::Contains("ffn.layers entry \"x\" is not a layer index"));
  CHECK_THAT(with({{"type", "routed"}, {"gate", "relu"}}), Catch::Contains("sigmoid, softmax"));
  CHECK_THAT(with({{"type", "routed"}, {"router_init", "zeros"}}), Catch::Contains("activations, random"));
  CHECK_THAT(with({{"type", "routed"}, {"permute", "sorted"}}), Catch::Contains("coactivation, none"));
  CHECK_THAT(with({{"type", "routed"}, {"bloks", 4}}), Catch::Contains("unknown key \"ffn.bloks\"") &&
                                                          Catch::Contains("ffn.blocks"));
  CHECK_THAT(with({{"type", "moe"}}), Catch::Contains("dense, routed"));
  CHECK_THAT(with({{"type", "routed"}, {"balance_loss", -1}}),
             Catch::Contains("ffn.balance_loss") && Catch::Contains("out of range"));
  // Routed layers take LoRA adapters on their FFN linears (inside the blocks) as well as on attention.
  io::Json lora = run_config(model, root / "train.tsv", root / "out");
  lora["ffn"] = {{"type", "routed"}, {"blocks", 4}};
  lora["lora"] = {{"enabled", true}, {"targets", {"ffn.up", "ffn.down"}}};
  CHECK(trainer_error(lora, root).empty());
  lora["lora"]["targets"] = {"attn.q", "attn.v"};
  CHECK(trainer_error(lora, root).empty());
  CHECK(with({{"type", "routed"}, {"blocks", 8}, {"active", 0}, {"layers", {"all"}}}).empty());
  fs::remove_all(root);
}

TEST_CASE("ffn settings round-trip through the checkpoint settings", "[routed]") {
  model::RoutedFfnOptions o;
  o.enabled = true;
  o.blocks = 16;
  o.active = 0;  // stored resolved: 8
  o.layers = {2, 3};
  o.gate = RouteGate::softmax;
  o.router_init = model::RouterInit::random;
  o.permute = false;
  const model::RoutedFfnOptions back = model::RoutedFfnOptions::from_json(o.to_json(), "test");
  CHECK(back.enabled);
  CHECK(back.blocks == 16);
  CHECK(back.active_blocks() == 8);
  CHECK(back.layers == std::vector<int64_t>{2, 3});
  CHECK(back.gate == RouteGate::softmax);
  CHECK(back.router_init == model::RouterInit::random);
  CHECK_FALSE(back.permute);
  io::Json bad = o.to_json();
  bad["gate"] = "tanh";
  CHECK_THROWS_WITH(model::RoutedFfnOptions::from_json(bad, "ckpt/config.json"),
                    Catch::Contains("ckpt/config.json") && Catch::Contains("sigmoid or softmax"));
}
