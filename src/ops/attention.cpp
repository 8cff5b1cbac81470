// Dense attention from GEMMs on per-head strided views, the masked softmax and
// dropout. Backward (with Pd = dropout(P), saved by forward):
//   dV = Pd^T dOut,  dPd = dOut V^T,
//   dS = softmax_bwd(dropout_bwd(dPd)) = s (Pd dPd - P sum_k Pd dPd)  (the
//   dropout mask is not drawn again: P dropout_bwd(dPd) = Pd dPd),
//   dQ = dS K,  dK = dS^T Q
#include "spt/ops/attention.h"

#include <cmath>

#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

struct AttnDims {
  int64_t B, Tq, Tk, H, D, C;
  float scale;
};

AttnDims attention_dims(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                        const AttentionParams& p) {
  for (const auto& [name, t] : {std::pair{"q", &q}, std::pair{"k", &k}, std::pair{"v", &v}}) {
    check_float(op, name, *t);
    check_ndim(op, name, *t, 3, "(B, T, H*D)");
  }
  check_same(op, {&q, &k, &v});
  SPT_CHECK(p.heads >= 1, "[", op, "] heads must be >= 1, got ", p.heads);
  AttnDims d{q.dim(0), q.dim(1), k.dim(1), p.heads, 0, q.dim(2), p.scale};
  SPT_CHECK(d.C % d.H == 0, "[", op, "] q ", q.str(), ": hidden size ", d.C,
            " is not divisible by heads = ", d.H);
  d.D = d.C / d.H;
  check_shape(op, "k", k, {d.B, d.Tk, d.C});
  check_shape(op, "v", v, {d.B, d.Tk, d.C});
  if (d.scale <= 0.f) d.scale = 1.f / std::sqrt(static_cast<float>(d.D));
  SPT_CHECK(p.dropout.p >= 0.f && p.dropout.p < 1.f, "[", op,
            "] dropout probability must be in [0, 1), got ", p.dropout.p);
  return d;
}

// Per-(b, h) GEMM over (rows x D) blocks of (B, T, C) tensors and (Tq x Tk)
// blocks of (B, H, Tq, Tk) tensors.
struct HeadGemm {
  const AttnDims& d;
  // Stride description of one operand kind.
  struct Op {
    int64_t ld, outer, inner;
  };
  Op btc(int64_t T) const { return {d.C, T * d.C, d.D}; }                 // (B, T, H*D)
  Op bhqk() const { return {d.Tk, d.H * d.Tq * d.Tk, d.Tq * d.Tk}; }      // (B, H, Tq, Tk)

  void run(Backend& be, Tensor& c, Op oc, const Tensor& a, Op oa, bool ta, const Tensor& b, Op ob,
           bool tb, int64_t m, int64_t n, int64_t k, float alpha) const {
    be.gemm({.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .lda = oa.ld, .ldb = ob.ld,
             .ldc = oc.ld, .batch_outer = d.B, .batch_inner = d.H, .stride_a_outer = oa.outer,
             .stride_a_inner = oa.inner, .stride_b_outer = ob.outer, .stride_b_inner = ob.inner,
             .stride_c_outer = oc.outer, .stride_c_inner = oc.inner, .alpha = alpha},
            c, a, b);
  }
};

}  // namespace

void attention_forward(Tensor& out, AttentionSaved& saved, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& key_mask, const AttentionParams& p) {
  SPT_PROFILE_SCOPE("attention_forward");
  const char* op = "attention";
  const AttnDims d = attention_dims(op, q, k, v, p);
  if (key_mask.defined()) {
    check_index(op, "key_mask", key_mask);
    check_shape(op, "key_mask", key_mask, {d.B, d.Tk});
    check_same(op, {&q, &key_mask});
  }
  const Device dev = q.device();
  const DType dt = q.dtype();
  ensure_output(op, "out", out, {d.B, d.Tq, d.C}, dt, dev);
  ensure_output(op, "saved.probs", saved.probs, {d.B, d.H, d.Tq, d.Tk}, dt, dev);
  Backend& be = backend_for(dev);
  const HeadGemm hg{d};

  Tensor scores = Tensor::empty({d.B, d.H, d.Tq, d.Tk}, dt, dev);
  hg.run(be, scores, hg.bhqk(), q, hg.btc(d.Tq), false, k, hg.btc(d.Tk), true, d.Tq, d.Tk, d.D, 1.f);
  SoftmaxParams sp{d.B, d.H, d.Tq, d.Tk, d.scale, p.causal};
  be.softmax_fwd(sp, saved.probs, scores, key_mask);
  const Tensor* probs = &saved.probs;
  saved.dropped = Tensor();
  if (p.dropout.p > 0.f) {
    scores = Tensor();  // its memory goes to the dropped probabilities
    ensure_output(op, "saved.dropped", saved.dropped, {d.B, d.H, d.Tq, d.Tk}, dt, dev);
    be.dropout_fwd(p.dropout, saved.dropped, saved.probs);
    probs = &saved.dropped;
  }
  hg.run(be, out, hg.btc(d.Tq), *probs, hg.bhqk(), false, v, hg.btc(d.Tk), false, d.Tq, d.D, d.Tk,
         1.f);
}

void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const AttentionSaved& saved,
                        const AttentionParams& p) {
  SPT_PROFILE_SCOPE("attention_backward");
  const char* op = "attention backward";
  const AttnDims d = attention_dims(op, q, k, v, p);
  check_float(op, "dout", dout);
  check_shape(op, "dout", dout, q.shape());
  check_float(op, "saved.probs", saved.probs);
  check_shape(op, "saved.probs", saved.probs, {d.B, d.H, d.Tq, d.Tk});
  check_same(op, {&q, &dout, &saved.probs});
  const Device dev = q.device();
  const DType dt = q.dtype();
  ensure_output(op, "dq", dq, q.shape(), dt, dev);
  ensure_output(op, "dk", dk, k.shape(), dt, dev);
  ensure_output(op, "dv", dv, v.shape(), dt, dev);
  Backend& be = backend_for(dev);
  const HeadGemm hg{d};
  const bool drop = p.dropout.p > 0.f;

  Tensor tmp = Tensor::empty({d.B, d.H, d.Tq, d.Tk}, dt, dev);
  // dV = Pd^T dOut with Pd = dropout(P) as saved by forward.
  const Tensor* pd = &saved.probs;
  if (drop) {
    check_shape(op, "saved.dropped", saved.dropped, {d.B, d.H, d.Tq, d.Tk});
    pd = &saved.dropped;
  }
  hg.run(be, dv, hg.btc(d.Tk), *pd, hg.bhqk(), true, dout, hg.btc(d.Tq), false, d.Tk, d.D, d.Tq,
         1.f);
  // dPd = dOut V^T  (into tmp), then through dropout and the softmax.
  hg.run(be, tmp, hg.bhqk(), dout, hg.btc(d.Tq), false, v, hg.btc(d.Tk), true, d.Tq, d.Tk, d.D,
         1.f);
  // dS = softmax_bwd(dropout_bwd(dPd)) = s (Pd dPd - P sum(Pd dPd)): no mask redraw.
  SoftmaxParams sp{d.B, d.H, d.Tq, d.Tk, d.scale, p.causal};
  Tensor ds = Tensor::empty({d.B, d.H, d.Tq, d.Tk}, dt, dev);
  be.softmax_bwd(sp, ds, tmp, saved.probs, drop ? saved.dropped : Tensor());
  // dQ = dS K,  dK = dS^T Q
  hg.run(be, dq, hg.btc(d.Tq), ds, hg.bhqk(), false, k, hg.btc(d.Tk), false, d.Tq, d.D, d.Tk, 1.f);
  hg.run(be, dk, hg.btc(d.Tk), ds, hg.bhqk(), true, q, hg.btc(d.Tq), false, d.Tk, d.D, d.Tq, 1.f);
}

}  // namespace spt::ops
