// Parameter binding and dropout keys for the model layers.
#include "spt/model/layers.h"

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

LinearRef LinearRef::bind(ParameterStore& ps, const std::string& name, bool bias) {
  LinearRef r;
  r.w = ps.param(name + ".weight");
  r.dw = ps.grad(name + ".weight");
  if (bias) {
    r.b = ps.param(name + ".bias");
    r.db = ps.grad(name + ".bias");
  }
  return r;
}

LinearRef LinearRef::rows(int64_t begin, int64_t end) const {
  LinearRef r;
  r.w = w.narrow0(begin, end);
  if (dw.defined()) r.dw = dw.narrow0(begin, end);
  if (b.defined()) r.b = b.narrow0(begin, end);
  if (db.defined()) r.db = db.narrow0(begin, end);
  return r;
}

void LinearRef::forward(Tensor& y, const Tensor& x) const { ops::linear_forward(y, x, w, b); }

void LinearRef::backward(Tensor& dx, const Tensor& dy, const Tensor& x, bool need_dx) {
  ops::linear_backward(dx, dw, db, dy, x, w, need_dx);
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

Tensor SelfAttention::forward(const Tensor& x_in, const Tensor& key_mask, const StepContext& step) {
  x = x_in;
  qa = ka = va = ctx = Tensor();
  attn = {};
  q.forward(qa, x);
  k.forward(ka, x);
  v.forward(va, x);
  params.dropout = dropout_at(step, p_attn, layer, 0);
  ops::attention_forward(ctx, attn, qa, ka, va, key_mask, params);
  Tensor y;
  o.forward(y, ctx);
  d_out = dropout_at(step, p_out, layer, 1);
  ops::dropout_forward(y, y, d_out);
  return y;
}

Tensor SelfAttention::backward(const Tensor& dy) {
  Tensor d_y, d_ctx, dq, dk, dv, dx, tmp;
  ops::dropout_backward(d_y, dy, d_out);
  o.backward(d_ctx, d_y, ctx);
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
  up.forward(pre, x);
  ops::activation_forward(act, hidden, pre);
  Tensor y;
  down.forward(y, hidden);
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
