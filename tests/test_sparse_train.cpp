// Sparse attention in whole models and runs, on tiny random BERT and GPT-2:
//   * with a budget of every key, a sparse model's logits and gradients equal the
//     dense model's (BERT with padding; GPT-2 causal);
//   * a sparse LoRA run learns codebooks, saves them in spt_tensors.safetensors,
//     reports selection statistics, and spt-predict / export-peft / merge-lora /
//     export-hf handle its checkpoint;
//   * malformed attention settings give clear errors.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "spt/core/error.h"
#include "spt/io/checkpoint.h"
#include "spt/io/safetensors.h"
#include "spt/model/model.h"
#include "spt/model/sparse_attention.h"
#include "spt/train/config.h"
#include "spt/train/trainer.h"
#include "tests/reference_util.h"
#include "tests/train_util.h"

using namespace spt;
using namespace spt::test;

namespace {


// One forward/backward with the weights `w` and random codebooks.
TinyPass run_pass(const TinyCase& tc, const std::vector<std::pair<std::string, Tensor>>& w,
                  const model::ModelOptions& opts) {
  return tiny_pass(tc, opts, [&](ParameterStore& ps) {
    for (const auto& [name, t] : w) ps.param(name).copy_from(t);
    std::mt19937_64 rng(3);
    std::normal_distribution<double> nd(0.0, 1.0);
    for (const ParamInfo& p : ps.infos())
      if (p.name.find("pq_codebooks") != std::string::npos) {
        std::vector<double> v(static_cast<size_t>(shape_numel(p.shape)));
        for (double& x : v) x = nd(rng);
        ps.param(p.name).copy_from(Tensor::from_doubles(v, p.shape, DType::f32));
      }
  });
}

std::vector<std::pair<std::string, Tensor>> random_weights(const io::ModelConfig& cfg, io::ModelHead head) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> nd(0.0, 0.2);
  std::vector<std::pair<std::string, Tensor>> w;
  for (const io::ParamSpec& s : io::param_specs(cfg, head)) {
    std::vector<double> v(static_cast<size_t>(shape_numel(s.shape)));
    for (double& x : v) x = s.name.find("norm.weight") != std::string::npos ? 1.0 : nd(rng);
    w.emplace_back(s.name, Tensor::from_doubles(v, s.shape, DType::f32));
  }
  return w;
}

}  // namespace

TEST_CASE("a sparse model keeping every key equals the dense model", "[sparse][model]") {
  const int64_t B = 2, T = 19;
  for (const char* family : {"bert", "gpt2", "llama", "opt"}) {
    INFO(family);
    const TinyCase tc = tiny_case(family, B, T, 11);
    const auto w = random_weights(tc.cfg, tc.head);
    model::ModelOptions dense, sparse;
    sparse.attention.enabled = true;
    sparse.attention.select.top_l = T;
    sparse.attention.layers = {1};  // one sparse layer beside a dense one
    const TinyPass a = run_pass(tc, w, dense);
    const TinyPass b = run_pass(tc, w, sparse);
    REQUIRE(a.grads.size() == b.grads.size());
    check_same_pass(a, b);
    // And a budget below the keys changes the result (the sparse path really runs).
    sparse.attention.select.top_l = 3;
    const TinyPass c = run_pass(tc, w, sparse);
    CHECK(rel_l2(c.logits, a.logits) > 1e-4);
  }
}

TEST_CASE("a sparse LoRA run learns, saves and reports its codebooks", "[sparse][train]") {
  const fs::path root = fresh_dir("sparse_run");
  const fs::path model = make_tiny_bert(root, 0.1);
  make_data(root / "train.tsv", 64, 3);
  io::Json j = run_config(model, root / "train.tsv", root / "out");
  j["train"]["max_steps"] = 10;
  j["data"]["dev"] = (root / "train.tsv").string();
  j["eval"]["every_epoch"] = true;
  j["lora"] = {{"enabled", true}, {"rank", 4}, {"alpha", 8}, {"targets", {"attn.q", "attn.v"}}};
  j["attention"] = {{"type", "sparse"}, {"top_ratio", 0.25}, {"min_l", 4}, {"layers", {"1"}},
                    {"pq", {{"subvector_dim", 2}, {"codewords", 8}, {"update_every", 3}}}};
  const std::string cfg_path = write_config(root / "run.json", j);
  REQUIRE(wait_exit(spawn({SPT_FINETUNE_BIN, "--config", cfg_path})) == 0);

  const fs::path final_dir = root / "out" / "final";
  const io::SafetensorsReader own((final_dir / "spt_tensors.safetensors").string());
  REQUIRE(own.find("layers.1.attn.pq_codebooks") != nullptr);
  CHECK(own.find("layers.0.attn.pq_codebooks") == nullptr);  // layer 0 is dense
  CHECK(own.find("layers.1.attn.pq_codebooks")->shape == Shape{4, 4, 8, 2});
  const auto counts = own.load("layers.1.attn.pq_counts").to_doubles();
  double absorbed = 0;
  for (double c : counts) absorbed += c;
  CHECK(absorbed > 0);  // k-means and the updates saw keys

  // The metrics log reports the selection.
  bool seen = false;
  std::ifstream in(root / "out" / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const io::Json r = io::Json::parse(line);
    if (r.at("type") != "eval") continue;
    seen = true;
    CHECK(r.at("attn_mass_share").get<double>() > 0.3);
    CHECK(r.at("attn_mass_share").get<double>() <= 1.0 + 1e-9);
    CHECK(r.at("attn_recall").get<double>() > 0.0);
    CHECK(r.at("attention_layers").contains("1"));
  }
  CHECK(seen);

  // The checkpoint runs in spt-predict, and the converters leave the codebooks out.
  CHECK(wait_exit(spawn({SPT_PREDICT_BIN, "--model", final_dir.string(), "--data", (root / "train.tsv").string(),
                         "--output", (root / "pred.jsonl").string()})) == 0);
  CHECK(fs::exists(root / "pred.jsonl"));
  CHECK(wait_exit(spawn({SPT_CONVERT_BIN, "export-peft", final_dir.string(), (root / "peft").string()})) == 0);
  const io::SafetensorsReader peft((root / "peft" / "adapter_model.safetensors").string());
  for (const io::TensorInfo& t : peft.tensors()) CHECK(t.name.find("pq_") == std::string::npos);
  CHECK(wait_exit(spawn({SPT_CONVERT_BIN, "merge-lora", final_dir.string(), (root / "merged").string()})) == 0);
  const auto left_out = io::export_hf(final_dir.string(), (root / "hf").string());
  bool codebooks_noted = false;
  for (const std::string& l : left_out) codebooks_noted = codebooks_noted || l.find("PQ codebooks") != std::string::npos;
  CHECK(codebooks_noted);
  fs::remove_all(root);
}

TEST_CASE("malformed attention settings give clear errors", "[config][sparse]") {
  const fs::path root = fresh_dir("sparse_cfg");
  const fs::path model = make_tiny_bert(root, 0.0);
  make_data(root / "train.tsv", 16, 1);
  auto with = [&](const io::Json& attention) {
    io::Json j = run_config(model, root / "train.tsv", root / "out");
    j["attention"] = attention;
    return trainer_error(j, root);
  };
  // The tiny BERT has 2 layers, head size 8.
  CHECK_THAT(with({{"type", "sparse"}, {"top_l", -3}}), Catch::Contains("attention.top_l") && Catch::Contains("out of range"));
  CHECK_THAT(with({{"type", "sparse"}, {"pq", {{"subvector_dim", 3}}}}),
             Catch::Contains("subvector_dim = 3 does not divide the head size 8"));
  CHECK_THAT(with({{"type", "sparse"}, {"pq", {{"codewords", 300}}}}),
             Catch::Contains("attention.pq.codewords") && Catch::Contains("out of range"));
  CHECK_THAT(with({{"type", "sparse"}, {"layers", {"0", "5"}}}), Catch::Contains("names layer 5") && Catch::Contains("0..1"));
  CHECK_THAT(with({{"type", "sparse"}, {"layers", {"one"}}}), Catch::Contains("\"one\" is not a layer index"));
  CHECK_THAT(with({{"type", "sparse"}, {"top_l", 4}, {"local_window", 3}}),
             Catch::Contains("always kept but a query may keep only 4"));
  CHECK_THAT(with({{"type", "sparse"}, {"pq", {{"rerank", 0}}}}), Catch::Contains("attention.pq.rerank"));
  CHECK_THAT(with({{"type", "sparse"}, {"pq", {{"codewords", 16}, {"subvectordim", 4}}}}),
             Catch::Contains("unknown key \"attention.pq.subvectordim\"") && Catch::Contains("attention.pq.subvector_dim"));
  CHECK_THAT(with({{"type", "sparse"}, {"pq", 4}}), Catch::Contains("\"attention.pq\" must be an object"));
  CHECK_THAT(with({{"type", "sparsest"}}), Catch::Contains("dense, sparse"));
  CHECK_THAT(with({{"type", "sparse"}, {"cuda", {{"kernel", "cublas"}}}}),
             Catch::Contains("attention.cuda.kernel") && Catch::Contains("fused, cusparse"));
  CHECK_THAT(with({{"type", "sparse"}, {"cuda", {{"deterministic", "yes"}}}}),
             Catch::Contains("attention.cuda.deterministic"));
  CHECK(with({{"type", "sparse"}, {"layers", {"all"}}}).empty());
  CHECK(with({{"type", "sparse"}, {"cuda", {{"kernel", "cusparse"}, {"deterministic", true}}}}).empty());
  fs::remove_all(root);
}

TEST_CASE("the CUDA choices of sparse attention round-trip through the checkpoint settings", "[sparse]") {
  model::SparseAttentionOptions o;
  o.enabled = true;
  o.cuda_kernel = SparseKernel::cusparse;
  o.deterministic = true;
  const model::SparseAttentionOptions back = model::SparseAttentionOptions::from_json(o.to_json(), "test");
  CHECK(back.cuda_kernel == SparseKernel::cusparse);
  CHECK(back.deterministic);
  io::Json older = o.to_json();  // checkpoints written before the section existed
  older.erase("cuda");
  const model::SparseAttentionOptions old = model::SparseAttentionOptions::from_json(older, "test");
  CHECK(old.cuda_kernel == SparseKernel::fused);
  CHECK_FALSE(old.deterministic);
  io::Json bad = o.to_json();
  bad["cuda"]["kernel"] = "magic";
  CHECK_THROWS_WITH(model::SparseAttentionOptions::from_json(bad, "ckpt/config.json"),
                    Catch::Contains("ckpt/config.json") && Catch::Contains("fused or cusparse"));
}
