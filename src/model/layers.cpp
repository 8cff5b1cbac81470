// Parameter binding and dropout keys for the model layers.
#include "spt/model/layers.h"

#include <limits>
#include <tuple>
#include <utility>

#include "spt/backend/backend.h"
#include "spt/core/error.h"
#include "spt/ops/activation.h"
#include "spt/ops/dropout.h"
#include "spt/ops/linear.h"
#include "spt/ops/residual.h"
#include "spt/ops/rope.h"

namespace spt::model {

double AuxLosses::total() const {
  double sum = 0;
  for (const Tensor& t : terms) sum += t.to_doubles()[0];
  return sum;
}

DropoutParams dropout_at(const StepContext& ctx, float p, int layer, int site, int64_t numel) {
  DropoutParams d;
  if (ctx.rows > 0 && ctx.row0 > 0) {
    SPT_CHECK(numel % ctx.rows == 0, "[dropout] a tensor of ", numel, " elements is not ", ctx.rows,
              " rows of the micro-batch");
    d.base = static_cast<uint64_t>(ctx.row0) * static_cast<uint64_t>(numel / ctx.rows);
  }
  d.p = ctx.training ? p : 0.f;
  d.seed = ctx.seed;
  // 32 bits of step, 12 of micro-batch, 12 of layer, 8 of site.
  d.offset = (ctx.step << 32) ^ ((ctx.micro & 0xFFF) << 20) ^
             ((static_cast<uint64_t>(layer) & 0xFFF) << 8) ^ (static_cast<uint64_t>(site) & 0xFF);
  return d;
}

LinearRef LinearRef::bind(ParameterStore& ps, const std::string& name, bool bias,
                          const LoraOptions* lora) {
  LinearRef r;
  r.w = ps.param(name + ".weight");
  r.dw = ps.grad(name + ".weight");
  r.compute = ps.compute_dtype();
  if (bias) {
    r.b = ps.param(name + ".bias");
    r.db = ps.grad(name + ".bias");
  }
  if (ps.has(name + ".lora_A")) {
    SPT_CHECK(lora != nullptr && lora->enabled, "[lora] the parameters hold an adapter for ", name,
              " but the model was built without LoRA options");
    r.lora.a = ps.param(name + ".lora_A");
    r.lora.da = ps.grad(name + ".lora_A");
    r.lora.b = ps.param(name + ".lora_B");
    r.lora.db = ps.grad(name + ".lora_B");
    r.lora.scale = static_cast<float>(lora->scale());
    r.lora.p = static_cast<float>(lora->dropout);
    std::tie(r.lora.layer, r.lora.site) = lora_dropout_key(name);
  }
  return r;
}

LinearRef LinearRef::rows(int64_t begin, int64_t end) const {
  LinearRef r;
  r.w = w.narrow0(begin, end);
  r.compute = compute;
  if (dw.defined()) r.dw = dw.narrow0(begin, end);
  if (b.defined()) r.b = b.narrow0(begin, end);
  if (db.defined()) r.db = db.narrow0(begin, end);
  if (lora.active()) {
    r.lora = lora;
    r.lora.b = lora.b.narrow0(begin, end);
    if (lora.db.defined()) r.lora.db = lora.db.narrow0(begin, end);
  }
  return r;
}

const Tensor& LinearRef::gemm_weight() {
  if (compute == DType::f32) return w;
  if (!wc.defined()) {
    wc = Tensor::empty(w.shape(), compute, w.device());
    backend_for(w.device()).cast(wc, w);
  }
  return wc;
}

void LinearRef::forward(Tensor& y, const Tensor& x, const StepContext& step) {
  wc = Tensor();  // the master weight may have changed since the last forward
  const Tensor& wg = gemm_weight();
  if (!lora.active()) {
    ops::linear_forward(y, x, wg, b);
    return;
  }
  lora.params.scale = lora.scale;
  lora.params.dropout = dropout_at(step, lora.p, lora.layer, lora.site, x.numel());
  lora.u = lora.mask = Tensor();
  ops::lora_linear_forward(y, lora.u, lora.mask, x, wg, b, lora.a, lora.b, lora.params);
}

void LinearRef::backward(Tensor& dx, const Tensor& dy, const Tensor& x, bool need_dx) {
  const Tensor& wg = gemm_weight();
  if (!lora.active()) {
    ops::linear_backward(dx, dw, db, dy, x, wg, need_dx);
    return;
  }
  ops::lora_linear_backward(dx, dw, db, lora.da, lora.db, dy, x, wg, lora.a, lora.b, lora.u, lora.mask,
                            lora.params, need_dx);
}

NormRef NormRef::layer_norm(ParameterStore& ps, const std::string& name, float eps, const std::string& weight,
                            const std::string& bias) {
  NormRef r;
  r.w = ps.param(name + "." + weight);
  r.dw = ps.grad(name + "." + weight);
  r.b = ps.param(name + "." + bias);
  r.db = ps.grad(name + "." + bias);
  r.eps = eps;
  return r;
}

NormRef NormRef::rms_norm(ParameterStore& ps, const std::string& name, float eps) {
  NormRef r;
  r.w = ps.param(name + ".weight");
  r.dw = ps.grad(name + ".weight");
  r.eps = eps;
  r.rms = true;
  return r;
}

Tensor NormRef::forward(Saved& saved, const Tensor& x) const {
  Tensor y;
  saved = {};
  if (rms) ops::rmsnorm_forward(y, saved.rms, x, w, eps);
  else ops::layernorm_forward(y, saved.ln, x, w, b, eps);
  return y;
}

Tensor NormRef::backward(const Tensor& dy, const Tensor& x, const Saved& saved) {
  const auto grad_or_scratch = [](const Tensor& g, const Tensor& p) {
    return g.defined() ? g : Tensor::zeros(p.shape(), p.dtype(), p.device());
  };
  Tensor dx, gw = grad_or_scratch(dw, w);
  if (rms) {
    ops::rmsnorm_backward(dx, gw, dy, x, w, saved.rms);
  } else {
    Tensor gb = grad_or_scratch(db, b);
    ops::layernorm_backward(dx, gw, gb, dy, x, w, saved.ln);
  }
  return dx;
}

void SelfAttention::bind(ParameterStore& ps, int64_t l, bool bias, const LoraOptions* lora) {
  const std::string p = "layers." + std::to_string(l) + ".attn.";
  q = LinearRef::bind(ps, p + "q", bias, lora);
  k = LinearRef::bind(ps, p + "k", bias, lora);
  v = LinearRef::bind(ps, p + "v", bias, lora);
  o = LinearRef::bind(ps, p + "out", bias, lora);
  index = l;
  layer = static_cast<int>(l) + 1;  // dropout stream 0 is the embeddings
}

void FeedForward::bind(ParameterStore& ps, int64_t l, bool bias, const LoraOptions* lora, Activation activation,
                       bool gated) {
  const std::string p = "layers." + std::to_string(l) + ".ffn.";
  if (gated) gate = LinearRef::bind(ps, p + "gate", bias, lora);
  up = LinearRef::bind(ps, p + "up", bias, lora);
  down = LinearRef::bind(ps, p + "down", bias, lora);
  act = activation;
  index = l;
  layer = static_cast<int>(l) + 1;
}

void SelfAttention::bind_sparse(ParameterStore& ps, const SparseAttentionOptions& opts) {
  sparse = opts.is_sparse_layer(index);
  if (!sparse) return;
  codebooks = ps.param(pq_codebooks_name(index));
  sparse_params.heads = params.heads;
  sparse_params.kv_heads = params.kv_heads > 0 ? params.kv_heads : params.heads;
  sparse_params.causal = params.causal;
  sparse_params.scale = params.scale;
  sparse_params.select = opts.select;
  sparse_params.kernel = opts.cuda_kernel;
  sparse_params.deterministic = opts.deterministic;
}

// Elements of the dense (B, H, Tq, Tk) attention probabilities (their dropout layout).
static int64_t probs_numel(const Tensor& q, const Tensor& k, int64_t heads) {
  return q.dim(0) * heads * q.dim(1) * k.dim(1);
}

Tensor SelfAttention::forward(const Tensor& x_in, const Tensor& key_mask, const StepContext& step) {
  x = x_in;
  qa = ka = va = ctx = Tensor();
  attn = {};
  sparse_saved = {};
  q.forward(qa, x, step);
  k.forward(ka, x, step);
  v.forward(va, x, step);
  if (rotary) {
    qa = rotate(qa, params.heads, false);
    ka = rotate(ka, params.kv_heads > 0 ? params.kv_heads : params.heads, false);
  }
  if (step.probe) step.probe->keys(index, ka, key_mask);
  ran_sparse = sparse && !step.dense_attention;
  if (ran_sparse) {
    sparse_params.dropout = dropout_at(step, p_attn, layer, 0, probs_numel(qa, ka, sparse_params.heads));
    Tensor idx;
    ops::sparse_select(idx, qa, ka, key_mask, codebooks, sparse_params);
    if (step.probe) step.probe->selection(index, qa, ka, key_mask, idx, sparse_params);
    ops::sparse_attention_forward(ctx, sparse_saved, qa, ka, va, idx, sparse_params);
  } else {
    params.dropout = dropout_at(step, p_attn, layer, 0, probs_numel(qa, ka, params.heads));
    ops::attention_forward(ctx, attn, qa, ka, va, key_mask, params);
  }
  Tensor y;
  o.forward(y, ctx, step);
  d_out = dropout_at(step, p_out, layer, 1, y.numel());
  ops::dropout_forward(y, y, d_out);
  return y;
}

void SelfAttention::release() {
  x = qa = ka = va = ctx = Tensor();
  attn = {};
  sparse_saved = {};
  for (LinearRef* l : {&q, &k, &v, &o}) l->release();
}

Tensor SelfAttention::rotate(const Tensor& t, int64_t heads, bool inverse) const {
  const Tensor t2 = t.reshape({t.numel() / t.dim(-1), t.dim(-1)});
  Tensor y;
  if (inverse) ops::rope_backward(y, t2, rotary->pos, rotary->cos, rotary->sin, heads);
  else ops::rope_forward(y, t2, rotary->pos, rotary->cos, rotary->sin, heads);
  return y.reshape(t.shape());
}

Tensor SelfAttention::backward(const Tensor& dy) {
  Tensor d_y, d_ctx, dq, dk, dv, dx, tmp;
  ops::dropout_backward(d_y, dy, d_out);
  o.backward(d_ctx, d_y, ctx);
  if (ran_sparse)
    ops::sparse_attention_backward(dq, dk, dv, d_ctx, qa, ka, va, sparse_saved, sparse_params);
  else
    ops::attention_backward(dq, dk, dv, d_ctx, qa, ka, va, attn, params);
  if (rotary) {
    dq = rotate(dq, params.heads, true);
    dk = rotate(dk, params.kv_heads > 0 ? params.kv_heads : params.heads, true);
  }
  q.backward(dx, dq, x);
  k.backward(tmp, dk, x);
  ops::accumulate(dx, tmp);
  v.backward(tmp, dv, x);
  ops::accumulate(dx, tmp);
  return dx;
}

void FeedForward::bind_routed(ParameterStore& ps, const RoutedFfnOptions& opts) {
  routed = opts.is_routed_layer(index);
  if (!routed) return;
  router.w = ps.param(router_weight_name(index));
  router.dw = ps.grad(router_weight_name(index));
  router.b = ps.param(router_bias_name(index));
  router.db = ps.grad(router_bias_name(index));
  route = opts.route();
  blocks = opts.blocks;
  balance = static_cast<float>(opts.balance_loss);
}

ops::BlockFfn FeedForward::block_ffn() const {
  ops::BlockFfn f;
  f.up_w = up.w;
  f.up_b = up.b;
  f.down_w = down.w;
  f.down_b = down.b;
  f.gate_w = gate.w;
  f.gate_b = gate.b;
  f.act = act;
  f.blocks = blocks;
  // Adapters run inside the blocks; their dropout was keyed by forward_routed.
  const std::pair<const LinearRef*, ops::BlockLora*> adapters[] = {
      {&up, &f.up_lora}, {&gate, &f.gate_lora}, {&down, &f.down_lora}};
  for (auto [l, bl] : adapters) {
    if (!l->lora.active()) continue;
    bl->a = l->lora.a;
    bl->b = l->lora.b;
    bl->scale = l->lora.scale;
    bl->dropout = l->lora.params.dropout;
  }
  return f;
}

Tensor FeedForward::forward(const Tensor& x_in, const StepContext& step, const Tensor& token_mask) {
  x = x_in;
  pre = pre_gate = hidden = sel = gates = balance_grad = Tensor();
  routed_saved = {};
  if (step.ffn_probe) step.ffn_probe->inputs(index, x, token_mask);
  ran_routed = routed && !step.dense_ffn;
  Tensor y;
  if (ran_routed) {
    y = forward_routed(step);
  } else if (gate.w.defined()) {
    gate.forward(pre_gate, x, step);
    up.forward(pre, x, step);
    ops::glu_forward(act, hidden, pre_gate, pre);
    down.forward(y, hidden, step);
  } else {
    up.forward(pre, x, step);
    ops::activation_forward(act, hidden, pre);
    down.forward(y, hidden, step);
  }
  d_out = dropout_at(step, p_out, layer, 2, y.numel());
  ops::dropout_forward(y, y, d_out);
  return y;
}

Tensor FeedForward::forward_routed(const StepContext& step) {
  const Tensor x2 = x.reshape({x.numel() / x.dim(-1), x.dim(-1)});
  Tensor logits, y;
  router.forward(logits, x2, step);
  ops::route_forward(sel, gates, logits, route);
  // The adapters' dropout: on x for up / gate (as the dense layer draws it), on
  // the grouped rows of the hidden activations for down (numel 0: not split by
  // rows, the grouped rows are not a row slice of the batch).
  for (LinearRef* l : {&up, &gate})
    if (l->lora.active()) l->lora.params.dropout = dropout_at(step, l->lora.p, l->lora.layer, l->lora.site, x2.numel());
  if (down.lora.active()) down.lora.params.dropout = dropout_at(step, down.lora.p, down.lora.layer, down.lora.site, 0);
  ops::routed_ffn_forward(y, routed_saved, x2, sel, gates, block_ffn());
  if (step.ffn_probe) step.ffn_probe->load(index, routed_saved.host_offsets);
  if (step.training && balance > 0 && x2.dim(0) > 0) {
    const std::vector<double> f = ops::block_fractions(routed_saved.host_offsets);
    const Tensor fractions = Tensor::from_doubles(f, {blocks}, logits.dtype()).to(logits.device());
    Tensor loss;
    ops::route_balance(loss, balance_grad, logits, fractions, balance * static_cast<float>(step.aux_scale));
    if (step.aux) step.aux->terms.push_back(loss);
  }
  return y.reshape(x.shape());
}

Tensor FeedForward::backward(const Tensor& dy) {
  Tensor d_y, d_hidden, d_pre, dx;
  ops::dropout_backward(d_y, dy, d_out);
  if (ran_routed) return backward_routed(d_y);
  down.backward(d_hidden, d_y, hidden);
  if (gate.w.defined()) {
    Tensor d_gate, tmp;
    ops::glu_backward(act, d_gate, d_pre, d_hidden, pre_gate, pre);
    up.backward(dx, d_pre, x);
    gate.backward(tmp, d_gate, x);
    ops::accumulate(dx, tmp);
    return dx;
  }
  ops::activation_backward(act, d_pre, d_hidden, pre);
  up.backward(dx, d_pre, x);
  return dx;
}

void FeedForward::release() {
  x = pre = pre_gate = hidden = sel = gates = balance_grad = Tensor();
  routed_saved = {};
  for (LinearRef* l : {&up, &down, &gate, &router}) l->release();
}

Tensor FeedForward::backward_routed(const Tensor& d_y) {
  const int64_t d = x.dim(-1), n = x.numel() / d;
  const Tensor x2 = x.reshape({n, d});
  Tensor dx, dgates, dlogits, dx_router;
  ops::BlockFfnGrads g;
  g.up_w = up.dw;
  g.up_b = up.db;
  g.down_w = down.dw;
  g.down_b = down.db;
  g.gate_w = gate.dw;
  g.gate_b = gate.db;
  g.up_la = up.lora.da;
  g.up_lb = up.lora.db;
  g.gate_la = gate.lora.da;
  g.gate_lb = gate.lora.db;
  g.down_la = down.lora.da;
  g.down_lb = down.lora.db;
  ops::routed_ffn_backward(dx, dgates, g, d_y.reshape({n, d}), x2, gates, routed_saved, block_ffn());
  ops::route_backward(dlogits, dgates, gates, sel, blocks, route);
  if (balance_grad.defined()) ops::accumulate(dlogits, balance_grad);
  router.backward(dx_router, dlogits, x2);
  ops::accumulate(dx, dx_router);
  return dx.reshape(x.shape());
}

Tensor TransformerBlock::forward(const Tensor& x, const Tensor& mask, const StepContext& c) {
  recompute = c.keep_saved ? c.recompute : Recompute::none;
  rc_x = rc_mask = rc_attn_in = Tensor();
  if (recompute == Recompute::none) return run(x, mask, c);
  again = c;
  again.probe = nullptr;      // codebook keys and selection statistics: counted by the first pass
  again.ffn_probe = nullptr;  // router load likewise
  again.aux = nullptr;        // auxiliary losses added once (their gradients are recomputed)
  again.recompute = Recompute::none;
  rc_mask = mask;
  if (recompute == Recompute::full) {
    rc_x = x;
    StepContext once = c;
    once.keep_saved = false;  // every activation dropped as the block finishes
    return run(x, mask, once);
  }
  return run(x, mask, c);
}

Tensor TransformerBlock::run(const Tensor& x, const Tensor& mask, const StepContext& c) {
  Tensor h, y;
  in1 = in2 = Tensor();
  grads_ready = c.grads_ready;
  // Recomputing the attention: its input is kept, its activations dropped.
  const bool drop_attention = !c.keep_saved || recompute == Recompute::attention;
  if (c.block_probe && attention.index == 0) c.block_probe->tensor("input of layer 0", 0, x);
  auto attend = [&](const Tensor& a_in) {
    Tensor out = attention.forward(a_in, mask, c);
    if (recompute == Recompute::attention && c.keep_saved) rc_attn_in = a_in;
    if (drop_attention) attention.release();
    return out;
  };
  if (pre_norm) {
    in1 = x;
    ops::residual_forward(h, x, attend(n1.forward(s1, x)));
    in2 = h;
    ops::residual_forward(y, h, ffn.forward(n2.forward(s2, h), c, mask));
  } else {
    ops::residual_forward(in1, x, attend(x));
    h = n1.forward(s1, in1);
    ops::residual_forward(in2, h, ffn.forward(h, c, mask));
    y = n2.forward(s2, in2);
  }
  if (c.poison_layer == attention.index) backend_for(y.device()).scale(y, std::numeric_limits<float>::quiet_NaN());
  if (c.block_probe) c.block_probe->tensor(str_cat("output of layer ", attention.index), attention.index, y);
  if (!c.keep_saved) {
    ffn.release();
    in1 = in2 = Tensor();
    s1 = s2 = {};
  }
  return y;
}

Tensor TransformerBlock::backward(const Tensor& dy) {
  Tensor dx;
  if (recompute == Recompute::full) {  // the block again, this time keeping what backward needs
    const Recompute r = recompute;
    recompute = Recompute::none;
    run(rc_x, rc_mask, again);
    recompute = r;
    rc_x = Tensor();
  } else if (recompute == Recompute::attention) {
    attention.forward(rc_attn_in, rc_mask, again);
    rc_attn_in = Tensor();
  }
  if (pre_norm) {
    Tensor dh = n2.backward(ffn.backward(dy), in2, s2);
    ops::accumulate(dh, dy);
    dx = n1.backward(attention.backward(dh), in1, s1);
    ops::accumulate(dx, dh);
  } else {
    const Tensor d_in2 = n2.backward(dy, in2, s2);
    Tensor dh = ffn.backward(d_in2);
    ops::accumulate(dh, d_in2);
    const Tensor d_in1 = n1.backward(dh, in1, s1);
    dx = attention.backward(d_in1);
    ops::accumulate(dx, d_in1);
  }
  if (recompute != Recompute::none) {  // what the recomputation made is dropped again at once
    attention.release();
    if (recompute == Recompute::full) {
      ffn.release();
      in1 = in2 = Tensor();
      s1 = s2 = {};
    }
  }
  if (grads_ready != nullptr) grads_ready->block_done(attention.index);
  return dx;
}

}  // namespace spt::model
