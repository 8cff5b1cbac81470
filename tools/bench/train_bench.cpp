// spt-bench --train-model (see train_bench.h).
#include "tools/bench/train_bench.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>

#include "spt/core/error.h"
#include "spt/core/profile.h"
#include "spt/io/gguf_import.h"
#include "spt/io/model_config.h"
#include "spt/io/weight_map.h"
#include "spt/model/lora.h"
#include "spt/model/model.h"
#include "spt/model/routed_ffn.h"
#include "spt/model/sparse_attention.h"
#include "spt/ops/optim.h"
#include "spt/train/step_cost.h"

namespace spt::bench {

namespace {

// The named shapes (random weights).
std::optional<io::Json> named_shape(const std::string& name) {
  if (name == "bert-base")
    return io::Json{{"model_type", "bert"}, {"vocab_size", 30522}, {"hidden_size", 768}, {"num_hidden_layers", 12},
                    {"num_attention_heads", 12}, {"intermediate_size", 3072}, {"max_position_embeddings", 512}};
  if (name == "smollm2-135m")
    return io::Json{{"model_type", "llama"}, {"vocab_size", 49152}, {"hidden_size", 576},
                    {"num_hidden_layers", 30}, {"num_attention_heads", 9}, {"num_key_value_heads", 3},
                    {"intermediate_size", 1536}, {"max_position_embeddings", 8192}, {"rope_theta", 100000.0},
                    {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", true}};
  return std::nullopt;
}

void fill_random(ParameterStore& ps, const std::string& name, uint64_t seed, double stddev) {
  Tensor& p = ps.param(name);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, stddev);
  std::vector<double> v(static_cast<size_t>(p.numel()));
  for (double& x : v) x = nd(rng);
  p.copy_from(Tensor::from_doubles(v, p.shape(), DType::f32));
}

void fill_const(ParameterStore& ps, const std::string& name, double v) {
  Tensor& p = ps.param(name);
  p.copy_from(Tensor::from_doubles(std::vector<double>(static_cast<size_t>(p.numel()), v), p.shape(), DType::f32));
}

}  // namespace

void run_train_bench(Device dev, const TrainBenchOptions& o) {
  const std::optional<io::Json> shape = named_shape(o.model);
  const bool gguf = !shape && std::filesystem::path(o.model).extension() == ".gguf";
  std::optional<io::GgufModel> g;
  if (gguf) g = io::open_gguf_model(o.model);
  io::ModelConfig cfg = shape ? io::parse_model_config(*shape, o.model)
                        : gguf ? io::parse_model_config(io::Json::parse(g->config.dump()), o.model)
                               : io::load_model_config(o.model);
  cfg.num_labels = 2;
  const bool causal = cfg.family != io::ModelFamily::bert;
  const io::ModelHead head = causal ? io::ModelHead::causal_lm : io::ModelHead::sequence_classification;
  model::ModelOptions opts;
  if (o.lora_rank > 0 || o.spt) {
    opts.lora.enabled = true;
    opts.lora.rank = o.spt ? 8 : o.lora_rank;
    opts.lora.alpha = 2.0 * static_cast<double>(opts.lora.rank);
    opts.lora.dropout = 0.05;
    opts.lora.targets = {"all-linear"};
  }
  if (o.spt) {
    opts.attention.enabled = true;
    opts.attention.select.keep_first = 1;
    opts.attention.select.rerank = 2;
    opts.ffn.enabled = true;
    opts.ffn.blocks = 8;
    opts.ffn.active = 4;
  }
  ParameterStore ps(model::model_param_infos(cfg, head, opts), dev);
  uint64_t seed = 3;
  if (shape) {
    for (const ParamInfo& p : ps.infos()) {
      const bool norm = p.name.find("norm") != std::string::npos;
      if (norm && p.name.find("weight") != std::string::npos) fill_const(ps, p.name, 1.0);
      else if (norm) fill_const(ps, p.name, 0.0);
      else fill_random(ps, p.name, seed++, 0.02);
    }
  } else {
    const auto reader = gguf ? std::move(g->tensors) : io::open_tensors(o.model);
    const io::LoadedWeights w = io::load_weights(cfg, *reader, head);
    for (const auto& [name, t] : w.params) ps.param(name).copy_from(t);
    for (const std::string& name : w.newly_initialized) fill_random(ps, name, seed++, 0.02);
  }
  if (opts.lora.enabled) model::init_lora(ps, opts.lora, 42);
  if (o.spt) {  // random codebooks and routers: the kernels' cost, not the selection's quality
    for (const ParamInfo& p : ps.infos())
      if (p.name.find("pq_codebooks") != std::string::npos) fill_random(ps, p.name, seed++, 1.0);
    model::init_routers_random(ps, cfg, opts.ffn, 7);
  }
  SPT_CHECK(o.precision == "fp32" || o.precision == "bf16" || o.precision == "fp16", "[bench] --precision ",
            o.precision, " is not fp32, bf16 or fp16");
  ps.set_compute_dtype(o.precision == "bf16" ? DType::bf16 : o.precision == "fp16" ? DType::f16 : DType::f32);
  auto net = model::make_model(cfg, head, ps, opts);
  const int64_t B = o.batch, T = o.seq;
  std::mt19937_64 rng(1);
  const int64_t vocab = cfg.vocab_size();
  std::vector<int64_t> ids(static_cast<size_t>(B * T)), labels(static_cast<size_t>(B));
  for (auto& x : ids) x = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
  for (auto& x : labels) x = static_cast<int64_t>(rng() % 2);
  if (causal) labels = ids;
  const model::EncoderBatch batch{Tensor::from_ints(ids, {B, T}, DType::i32, dev), Tensor(),
                                  Tensor::from_ints(std::vector<int64_t>(ids.size(), 1), {B, T}, DType::i32, dev)};
  const Tensor y = Tensor::from_ints(labels, causal ? Shape{B, T} : Shape{B}, DType::i32, dev);
  AdamWParams ap;
  ap.lr = 2e-5f;
  ap.weight_decay = 0.01f;
  auto step = [&](int64_t s) {
    net->forward(batch, model::StepContext{true, 42, static_cast<uint64_t>(s), 0});
    net->loss(y);
    net->backward();
    std::vector<Tensor> grads = {ps.flat_grads()};
    ops::clip_grad_norm(grads, 1.0);
    ap.step = s + 1;
    ops::adamw_step(ps.flat_trainable(), ps.adam_m(), ps.adam_v(), ps.flat_grads(), ap);
    ps.zero_grads();
  };
  step(0);  // warm-up
  backend_for(dev).synchronize();
  prof::reset();
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 1; s <= o.steps; ++s) step(s);
  backend_for(dev).synchronize();
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (prof::enabled())
    std::fprintf(stderr, "%s%-28s %8s %11.1f  (%d steps)\n", prof::table().c_str(), "wall time", "", 1e3 * sec,
                 o.steps);
  const train::StepCost cost = train::predict_step_cost(cfg, head, opts, B, T, model::Recompute::none);
  const double tflops = cost.flops * o.steps / sec / 1e12;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const std::string mode = o.spt ? "spt" : o.lora_rank > 0 ? "lora" : "full";
  std::printf("{\"impl\": \"spt\", \"model\": \"%s\", \"mode\": \"%s\", \"precision\": \"%s\", \"device\": \"%s\", "
              "\"tokens_per_s\": %.1f, "
              "\"step_ms\": %.1f, \"peak_rss_mib\": %.1f, \"peak_tensor_mib\": %.1f, \"steps\": %d, \"batch\": %lld, "
              "\"seq\": %lld, \"lora_rank\": %lld, \"trainable\": %lld, \"model_tflop_per_step\": %.4f, "
              "\"achieved_tflops\": %.3f",
              o.model.c_str(), mode.c_str(), o.precision.c_str(), dev.str().c_str(), static_cast<double>(B * T * o.steps) / sec,
              1000.0 * sec / o.steps, u.ru_maxrss / 1024.0, default_allocator(dev).stats().peak / 1048576.0, o.steps,
              static_cast<long long>(B), static_cast<long long>(T), static_cast<long long>(opts.lora.enabled ? opts.lora.rank : 0),
              static_cast<long long>(ps.num_trainable()), cost.flops / 1e12, tflops);
  if (o.peak_tflops > 0) std::printf(", \"mfu\": %.4f", tflops / o.peak_tflops);
  std::printf("}\n");
}

}  // namespace spt::bench
