// Parameter binding and dropout keys for the model layers.
#include "spt/model/layers.h"

#include <tuple>

#include "spt/core/error.h"
#include "spt/ops/activation.h"
#include "spt/ops/dropout.h"
#include "spt/ops/linear.h"
#include "spt/ops/residual.h"

namespace spt::model {

DropoutParams dropout_at(const StepContext& ctx, float p, int layer, int site) {
  DropoutParams d;
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

void LinearRef::forward(Tensor& y, const Tensor& x, const StepContext& step) {
  if (!lora.active()) {
    ops::linear_forward(y, x, w, b);
    return;
  }
  lora.params.scale = lora.scale;
  lora.params.dropout = dropout_at(step, lora.p, lora.layer, lora.site);
  lora.u = lora.mask = Tensor();
  ops::lora_linear_forward(y, lora.u, lora.mask, x, w, b, lora.a, lora.b, lora.params);
}

void LinearRef::backward(Tensor& dx, const Tensor& dy, const Tensor& x, bool need_dx) {
  if (!lora.active()) {
    ops::linear_backward(dx, dw, db, dy, x, w, need_dx);
    return;
  }
  ops::lora_linear_backward(dx, dw, db, lora.da, lora.db, dy, x, w, lora.a, lora.b, lora.u, lora.mask,
                            lora.params, need_dx);
}

LayerNormRef LayerNormRef::bind(ParameterStore& ps, const std::string& name, float eps,
                                const std::string& weight, const std::string& bias) {
  LayerNormRef r;
  r.w = ps.param(name + "." + weight);
  r.dw = ps.grad(name + "." + weight);
  r.b = ps.param(name + "." + bias);
  r.db = ps.grad(name + "." + bias);
  r.eps = eps;
  return r;
}

void SelfAttention::bind_sparse(ParameterStore& ps, const SparseAttentionOptions& opts) {
  sparse = opts.is_sparse_layer(index);
  if (!sparse) return;
  codebooks = ps.param(pq_codebooks_name(index));
  sparse_params.heads = params.heads;
  sparse_params.kv_heads = params.heads;
  sparse_params.causal = params.causal;
  sparse_params.scale = params.scale;
  sparse_params.select = opts.select;
  sparse_params.kernel = opts.cuda_kernel;
  sparse_params.deterministic = opts.deterministic;
}

Tensor SelfAttention::forward(const Tensor& x_in, const Tensor& key_mask, const StepContext& step) {
  x = x_in;
  qa = ka = va = ctx = Tensor();
  attn = {};
  sparse_saved = {};
  q.forward(qa, x, step);
  k.forward(ka, x, step);
  v.forward(va, x, step);
  if (step.probe) step.probe->keys(index, ka, key_mask);
  ran_sparse = sparse && !step.dense_attention;
  if (ran_sparse) {
    sparse_params.dropout = dropout_at(step, p_attn, layer, 0);
    Tensor idx;
    ops::sparse_select(idx, qa, ka, key_mask, codebooks, sparse_params);
    if (step.probe) step.probe->selection(index, qa, ka, key_mask, idx, sparse_params);
    ops::sparse_attention_forward(ctx, sparse_saved, qa, ka, va, idx, sparse_params);
  } else {
    params.dropout = dropout_at(step, p_attn, layer, 0);
    ops::attention_forward(ctx, attn, qa, ka, va, key_mask, params);
  }
  Tensor y;
  o.forward(y, ctx, step);
  d_out = dropout_at(step, p_out, layer, 1);
  ops::dropout_forward(y, y, d_out);
  return y;
}

Tensor SelfAttention::backward(const Tensor& dy) {
  Tensor d_y, d_ctx, dq, dk, dv, dx, tmp;
  ops::dropout_backward(d_y, dy, d_out);
  o.backward(d_ctx, d_y, ctx);
  if (ran_sparse)
    ops::sparse_attention_backward(dq, dk, dv, d_ctx, qa, ka, va, sparse_saved, sparse_params);
  else
    ops::attention_backward(dq, dk, dv, d_ctx, qa, ka, va, attn, params);
  q.backward(dx, dq, x);
  k.backward(tmp, dk, x);
  ops::accumulate(dx, tmp);
  v.backward(tmp, dv, x);
  ops::accumulate(dx, tmp);
  return dx;
}

Tensor FeedForward::forward(const Tensor& x_in, const StepContext& step) {
  x = x_in;
  pre = hidden = Tensor();
  up.forward(pre, x, step);
  ops::activation_forward(act, hidden, pre);
  Tensor y;
  down.forward(y, hidden, step);
  d_out = dropout_at(step, p_out, layer, 2);
  ops::dropout_forward(y, y, d_out);
  return y;
}

Tensor FeedForward::backward(const Tensor& dy) {
  Tensor d_y, d_hidden, d_pre, dx;
  ops::dropout_backward(d_y, dy, d_out);
  down.backward(d_hidden, d_y, hidden);
  ops::activation_backward(act, d_pre, d_hidden, pre);
  up.backward(dx, d_pre, x);
  return dx;
}

void ln_backward(Tensor& dx, LayerNormRef& ln, const Tensor& dy, const Tensor& x,
                 const ops::LayerNormSaved& saved) {
  Tensor dw = ln.dw.defined() ? ln.dw : Tensor::zeros(ln.w.shape(), ln.w.dtype(), ln.w.device());
  Tensor db = ln.db.defined() ? ln.db : Tensor::zeros(ln.b.shape(), ln.b.dtype(), ln.b.device());
  ops::layernorm_backward(dx, dw, db, dy, x, ln.w, saved);
}

}  // namespace spt::model
