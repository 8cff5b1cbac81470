// Op-layer validation for the pointwise and row-wise ops: embedding, layer norm,
// activations, softmax, dropout, residual add.
#include "spt/ops/activation.h"
#include "spt/ops/dropout.h"
#include "spt/ops/embedding.h"
#include "spt/ops/layernorm.h"
#include "spt/ops/residual.h"
#include "spt/ops/softmax.h"
#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

// ---- embedding ----

void embedding_forward(Tensor& out, const Tensor& weight, const Tensor& ids) {
  SPT_PROFILE_SCOPE("embedding_forward");
  const char* op = "embedding";
  check_float(op, "weight", weight);
  check_ndim(op, "weight", weight, 2, "(V, C)");
  check_index(op, "ids", ids);
  check_same(op, {&weight, &ids});
  check_index_range(op, "ids", ids, weight.dim(0));
  Shape os = ids.shape();
  os.push_back(weight.dim(1));
  ensure_output(op, "out", out, os, weight.dtype(), weight.device());
  backend_for(weight.device()).embedding_fwd(out, weight, ids);
}

void embedding_backward(Tensor& dweight, const Tensor& dout, const Tensor& ids) {
  SPT_PROFILE_SCOPE("embedding_backward");
  const char* op = "embedding backward";
  check_float(op, "dweight", dweight);
  check_ndim(op, "dweight", dweight, 2, "(V, C)");
  check_index(op, "ids", ids);
  check_float(op, "dout", dout);
  Shape os = ids.shape();
  os.push_back(dweight.dim(1));
  check_shape(op, "dout", dout, os);
  check_same(op, {&dweight, &dout, &ids});
  check_index_range(op, "ids", ids, dweight.dim(0));
  backend_for(dweight.device()).embedding_bwd(dweight, dout, ids);
}

// ---- layer norm ----

void layernorm_forward(Tensor& y, LayerNormSaved& saved, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps) {
  SPT_PROFILE_SCOPE("layernorm_forward");
  const char* op = "layernorm";
  const LayerNormParams p = norm_params(op, x, w, eps);
  check_float(op, "b", b);
  check_shape(op, "b", b, w.shape());
  check_same(op, {&x, &w, &b});
  ensure_output(op, "y", y, x.shape(), x.dtype(), x.device());
  ensure_output(op, "mean", saved.mean, {p.rows}, x.dtype(), x.device());
  ensure_output(op, "rstd", saved.rstd, {p.rows}, x.dtype(), x.device());
  backend_for(x.device()).layernorm_fwd(p, y, saved.mean, saved.rstd, x, w, b);
}

void layernorm_backward(Tensor& dx, Tensor& dw, Tensor& db, const Tensor& dy, const Tensor& x,
                        const Tensor& w, const LayerNormSaved& saved) {
  SPT_PROFILE_SCOPE("layernorm_backward");
  const char* op = "layernorm backward";
  const LayerNormParams p = norm_params(op, x, w, 1.f);
  check_float(op, "dy", dy);
  check_shape(op, "dy", dy, x.shape());
  check_float(op, "dw", dw);
  check_shape(op, "dw", dw, w.shape());
  check_float(op, "db", db);
  check_shape(op, "db", db, w.shape());
  check_float(op, "saved.mean", saved.mean);
  check_shape(op, "saved.mean", saved.mean, {p.rows});
  check_float(op, "saved.rstd", saved.rstd);
  check_shape(op, "saved.rstd", saved.rstd, {p.rows});
  check_same(op, {&x, &w, &dy, &dw, &db, &saved.mean, &saved.rstd});
  ensure_output(op, "dx", dx, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).layernorm_bwd(p, dx, dw, db, dy, x, w, saved.mean, saved.rstd);
}

// ---- activations ----

Activation activation_from_name(const std::string& name) {
  if (name == "gelu") return Activation::gelu_erf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_tanh")
    return Activation::gelu_tanh;
  if (name == "relu") return Activation::relu;
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "tanh") return Activation::tanh;
  fail("[activation] unknown activation '", name,
       "'; hint: supported are gelu, gelu_new, gelu_pytorch_tanh, relu, silu, swish, tanh");
}

void activation_forward(Activation act, Tensor& y, const Tensor& x) {
  SPT_PROFILE_SCOPE("activation_forward");
  const char* op = activation_name(act);
  check_float(op, "x", x);
  ensure_output(op, "y", y, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).activation_fwd(act, y, x);
}

void activation_backward(Activation act, Tensor& dx, const Tensor& dy, const Tensor& x) {
  SPT_PROFILE_SCOPE("activation_backward");
  const char* op = activation_name(act);
  check_float(op, "x", x);
  check_float(op, "dy", dy);
  check_shape(op, "dy", dy, x.shape());
  check_same(op, {&x, &dy});
  ensure_output(op, "dx", dx, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).activation_bwd(act, dx, dy, x);
}

void glu_forward(Activation act, Tensor& h, const Tensor& g, const Tensor& u) {
  SPT_PROFILE_SCOPE("glu_forward");
  const char* op = "glu";
  check_float(op, "g", g);
  check_float(op, "u", u);
  check_shape(op, "u", u, g.shape());
  check_same(op, {&g, &u});
  ensure_output(op, "h", h, g.shape(), g.dtype(), g.device());
  backend_for(g.device()).glu_fwd(act, h, g, u);
}

void glu_backward(Activation act, Tensor& dg, Tensor& du, const Tensor& dh, const Tensor& g, const Tensor& u) {
  SPT_PROFILE_SCOPE("glu_backward");
  const char* op = "glu";
  check_float(op, "g", g);
  check_float(op, "u", u);
  check_float(op, "dh", dh);
  check_shape(op, "u", u, g.shape());
  check_shape(op, "dh", dh, g.shape());
  check_same(op, {&g, &u, &dh});
  ensure_output(op, "dg", dg, g.shape(), g.dtype(), g.device());
  ensure_output(op, "du", du, g.shape(), g.dtype(), g.device());
  backend_for(g.device()).glu_bwd(act, dg, du, dh, g, u);
}

// ---- softmax ----

static SoftmaxParams softmax_params(const char* op, const Tensor& x, float scale) {
  check_float(op, "x", x);
  check_ndim(op, "x", x, 4, "(B, H, Tq, Tk)");
  SPT_CHECK(scale > 0.f, "[", op, "] scale must be positive, got ", scale);
  SoftmaxParams p;
  p.batch = x.dim(0);
  p.heads = x.dim(1);
  p.tq = x.dim(2);
  p.tk = x.dim(3);
  p.scale = scale;
  return p;
}

void softmax_forward(Tensor& y, const Tensor& x, const Tensor& key_mask, bool causal, float scale) {
  SPT_PROFILE_SCOPE("softmax_forward");
  const char* op = "softmax";
  SoftmaxParams p = softmax_params(op, x, scale);
  p.causal = causal;
  if (key_mask.defined()) {
    check_index(op, "key_mask", key_mask);
    check_shape(op, "key_mask", key_mask, {p.batch, p.tk});
    check_same(op, {&x, &key_mask});
  }
  ensure_output(op, "y", y, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).softmax_fwd(p, y, x, key_mask);
}

void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, float scale) {
  SPT_PROFILE_SCOPE("softmax_backward");
  const char* op = "softmax backward";
  const SoftmaxParams p = softmax_params(op, y, scale);
  check_float(op, "dy", dy);
  check_shape(op, "dy", dy, y.shape());
  check_same(op, {&y, &dy});
  ensure_output(op, "dx", dx, y.shape(), y.dtype(), y.device());
  backend_for(y.device()).softmax_bwd(p, dx, dy, y, Tensor());
}

// ---- dropout ----

static void check_dropout(const char* op, const DropoutParams& p) {
  SPT_CHECK(p.p >= 0.f && p.p < 1.f, "[", op, "] drop probability must be in [0, 1), got ", p.p,
            "; hint: set the dropout rate in the config to a value such as 0.1");
}

void dropout_forward(Tensor& y, const Tensor& x, const DropoutParams& p) {
  SPT_PROFILE_SCOPE("dropout_forward");
  check_dropout("dropout", p);
  check_float("dropout", "x", x);
  ensure_output("dropout", "y", y, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).dropout_fwd(p, y, x);
}

void dropout_backward(Tensor& dx, const Tensor& dy, const DropoutParams& p) {
  SPT_PROFILE_SCOPE("dropout_backward");
  check_dropout("dropout backward", p);
  check_float("dropout backward", "dy", dy);
  ensure_output("dropout backward", "dx", dx, dy.shape(), dy.dtype(), dy.device());
  backend_for(dy.device()).dropout_bwd(p, dx, dy);
}

void dropout_forward_bits(Tensor& y, Tensor& bits, const Tensor& x, const DropoutParams& p) {
  SPT_PROFILE_SCOPE("dropout_forward_bits");
  const char* op = "dropout bits";
  check_dropout(op, p);
  SPT_CHECK(p.p > 0.f, "[", op, "] needs p > 0 (with p = 0 there is no mask)");
  check_float(op, "x", x);
  ensure_output(op, "y", y, x.shape(), x.dtype(), x.device());
  ensure_output(op, "bits", bits, {(x.numel() + 31) / 32}, DType::i32, x.device());
  backend_for(x.device()).dropout_fwd_bits(p, y, bits, x);
}

void dropout_apply_bits(Tensor& y, const Tensor& x, const Tensor& bits, float p) {
  SPT_PROFILE_SCOPE("dropout_apply_bits");
  const char* op = "dropout apply bits";
  SPT_CHECK(p > 0.f && p < 1.f, "[", op, "] p must be in (0, 1), got ", p);
  check_float(op, "x", x);
  check_index(op, "bits", bits);
  check_shape(op, "bits", bits, {(x.numel() + 31) / 32});
  check_same(op, {&x, &bits});
  ensure_output(op, "y", y, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).dropout_apply_bits(p, y, x, bits);
}

// ---- residual ----

void residual_forward(Tensor& y, const Tensor& a, const Tensor& b) {
  SPT_PROFILE_SCOPE("residual_forward");
  const char* op = "residual";
  check_float(op, "a", a);
  check_float(op, "b", b);
  check_shape(op, "b", b, a.shape());
  check_same(op, {&a, &b});
  ensure_output(op, "y", y, a.shape(), a.dtype(), a.device());
  backend_for(a.device()).add(y, a, b);
}

void residual_backward(Tensor& da, Tensor& db, const Tensor& dy) {
  SPT_PROFILE_SCOPE("residual_backward");
  const char* op = "residual backward";
  check_float(op, "dy", dy);
  for (Tensor* d : {&da, &db}) {
    ensure_output(op, d == &da ? "da" : "db", *d, dy.shape(), dy.dtype(), dy.device());
    if (!d->same_storage(dy) || d->data_ptr() != dy.data_ptr()) backend_for(dy.device()).copy(*d, dy);
  }
}

void accumulate(Tensor& dst, const Tensor& src) {
  SPT_PROFILE_SCOPE("accumulate");
  const char* op = "accumulate";
  check_float(op, "dst", dst);
  check_float(op, "src", src);
  check_shape(op, "src", src, dst.shape());
  check_same(op, {&dst, &src});
  backend_for(dst.device()).axpy(dst, src, 1.f);
}

}  // namespace spt::ops
