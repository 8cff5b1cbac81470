// The analytic step cost of --dry-run (the formulas: include/spt/train/step_cost.h).
#include "spt/train/step_cost.h"

#include <algorithm>
#include <set>

#include <spdlog/fmt/fmt.h>

#include "spt/core/error.h"
#include "spt/model/layer_name.h"
#include "spt/core/tensor.h"
#include "spt/model/lora.h"
#include "spt/model/routed_ffn.h"
#include "spt/model/sparse_attention.h"
#include "spt/ops/sparse_attention.h"

namespace spt::train {

namespace {


bool is_ffn(const std::string& name) { return name.find(".ffn.") != std::string::npos; }

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }
std::string gib(double bytes) { return str_cat(fixed(bytes / (1024.0 * 1024.0 * 1024.0), 2), " GiB"); }
std::string tflop(double f) { return str_cat(fixed(f / 1e12, 3), " TFLOP"); }

}  // namespace

StepCost predict_step_cost(const io::ModelConfig& cfg, io::ModelHead head, const model::ModelOptions& opts,
                           int64_t rows, int64_t seq, model::Recompute recompute) {
  const double B = static_cast<double>(rows), T = static_cast<double>(seq), N = B * T;
  const model::AttentionShape a = model::attention_shape(cfg);
  const model::FfnShape f = model::ffn_shape(cfg);
  const double d = static_cast<double>(f.hidden), F = static_cast<double>(f.intermediate);
  const double H = static_cast<double>(a.heads), dh = static_cast<double>(a.head_dim);
  const double kv = static_cast<double>(a.kv_heads > 0 ? a.kv_heads : a.heads) * dh;
  const bool gated = cfg.family == io::ModelFamily::llama;
  const bool train_base = !opts.lora.enabled;
  std::set<std::string> adapted;
  if (opts.lora.enabled)
    for (const model::LoraModule& m : model::lora_modules(cfg, head, opts.lora)) adapted.insert(m.name);
  const double r = static_cast<double>(opts.lora.rank);

  StepCost c;
  std::vector<double> fwd_layer(static_cast<size_t>(a.layers), 0.0), attn_fwd_layer(fwd_layer);
  std::vector<double> keep_layer(fwd_layer), attn_keep_layer(fwd_layer);
  // Linear layers.
  for (const model::LoraModule& m : model::lora_candidates(cfg, head)) {
    const int64_t l = model::block_of(m.name);
    if (l < 0) continue;
    const size_t li = static_cast<size_t>(l);
    double share = 1.0;
    if (is_ffn(m.name) && opts.ffn.enabled && opts.ffn.is_routed_layer(l))
      share = static_cast<double>(opts.ffn.active_blocks()) / static_cast<double>(opts.ffn.blocks);
    const double io = static_cast<double>(m.in) * static_cast<double>(m.out);
    double fwd = 2 * N * io * share;
    double back = fwd * (train_base ? 2 : 1);
    if (adapted.count(m.name)) {
      const double lf = 2 * N * r * static_cast<double>(m.in + m.out);
      fwd += lf;
      back += 2 * lf;
      keep_layer[li] += N * r * 4;
    }
    c.flops += fwd + back;
    fwd_layer[li] += fwd;
    if (!is_ffn(m.name)) attn_fwd_layer[li] += fwd;
  }
  for (int64_t l = 0; l < a.layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    // Attention core.
    const bool sparse = opts.attention.enabled && opts.attention.is_sparse_layer(l);
    const double K = sparse ? static_cast<double>(std::min<int64_t>(ops::sparse_slots(opts.attention.select, seq), seq)) : T;
    double core = 4 * B * H * T * K * dh;
    if (sparse) core += B * H * T * T * dh / static_cast<double>(opts.attention.subvector_dim);
    c.flops += core * 3;
    fwd_layer[li] += core;
    attn_fwd_layer[li] += core;
    const double probs = sparse ? B * H * T * (K * static_cast<double>(dtype_size(ops::sparse_index_dtype(seq))) + 4)
                                : 2 * 4 * B * H * T * T;
    attn_keep_layer[li] = 4 * (N * d + N * (H * dh + 2 * kv) + N * H * dh) + probs;
    // Router.
    const bool routed = opts.ffn.enabled && opts.ffn.is_routed_layer(l);
    if (routed) {
      const double rf = 2 * N * d * static_cast<double>(opts.ffn.blocks);
      c.flops += rf * 3;
      fwd_layer[li] += rf;
    }
    const double share = routed ? static_cast<double>(opts.ffn.active_blocks()) / static_cast<double>(opts.ffn.blocks) : 1.0;
    const double ffn_keep = 4 * (N * d + N * F * share * (gated ? 3 : 2));
    keep_layer[li] += 4 * 2 * N * d + attn_keep_layer[li] + ffn_keep;
  }
  // The LM head (classification heads are negligible).
  double fixed_keep = 0;
  if (head == io::ModelHead::causal_lm) {
    const double V = static_cast<double>(cfg.vocab_size());
    c.flops += 2 * N * d * V * (train_base ? 3 : 2);
    fixed_keep += N * V * 4;
  }
  // Recomputation: what is dropped, what runs again.
  double keep = fixed_keep, peak_extra = 0;
  for (size_t li = 0; li < keep_layer.size(); ++li) {
    if (recompute == model::Recompute::full) {
      keep += 4 * N * d;
      peak_extra = std::max(peak_extra, keep_layer[li]);
      c.flops += fwd_layer[li];
    } else if (recompute == model::Recompute::attention) {
      keep += keep_layer[li] - attn_keep_layer[li] + 4 * N * d;
      peak_extra = std::max(peak_extra, attn_keep_layer[li]);
      c.flops += attn_fwd_layer[li];
    } else {
      keep += keep_layer[li];
    }
  }
  c.activation_bytes = keep + peak_extra;
  return c;
}

std::string step_cost_table(const io::ModelConfig& cfg, io::ModelHead head, const model::ModelOptions& opts,
                            int64_t rows, int64_t seq, model::Recompute recompute) {
  model::ModelOptions full, lora;
  lora.lora = opts.lora;
  if (!lora.lora.enabled) {  // the usual dense LoRA to compare with
    lora.lora.enabled = true;
    lora.lora.targets = {"attn.*"};
  }
  const StepCost cf = predict_step_cost(cfg, head, full, rows, seq, model::Recompute::none);
  const StepCost cl = predict_step_cost(cfg, head, lora, rows, seq, model::Recompute::none);
  const StepCost cr = predict_step_cost(cfg, head, opts, rows, seq, recompute);
  size_t width = 24;
  auto line = [&](const std::string& what, const StepCost& s) {
    return str_cat("  ", what, std::string(width + 2 - what.size(), ' '), tflop(s.flops), " (",
                   fixed(s.flops / cl.flops, 2), "x dense LoRA), activations ", gib(s.activation_bytes), " (",
                   fixed(s.activation_bytes / cl.activation_bytes, 2), "x)\n");
  };
  std::string what = "this run";
  std::vector<std::string> parts;
  if (opts.lora.enabled) parts.push_back("LoRA");
  if (opts.attention.enabled) parts.push_back("sparse attention");
  if (opts.ffn.enabled) parts.push_back("routed FFN");
  if (recompute != model::Recompute::none)
    parts.push_back(recompute == model::Recompute::full ? "recompute full" : "recompute attention");
  if (!parts.empty()) {
    what += " (";
    for (size_t i = 0; i < parts.size(); ++i) what += (i ? ", " : "") + parts[i];
    what += ")";
  }
  width = std::max(width, what.size());
  return str_cat("predicted per step at ", rows, " x ", seq, " tokens (analytic: forward + backward FLOPs; f32 "
                 "activations kept for backward):\n",
                 line("dense full fine-tuning", cf), line("dense LoRA", cl), line(what, cr));
}

}  // namespace spt::train
