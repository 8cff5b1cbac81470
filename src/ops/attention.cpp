// Dense attention from GEMMs on per-head strided views, the masked softmax and
// dropout. Grouped-query attention (kv_heads < heads) runs one batched GEMM per
// position g < G = H / Hk inside a group: query heads kh G + g of every (b, kh)
// against key/value head kh, strided views of the same buffers (no K/V copy);
// dK and dV sum the G groups (beta = 1 after the first). Backward (with Pd = dropout(P), saved by forward):
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
  int64_t Hk, Ck;  // key/value heads, their width Hk * D
  int64_t G() const { return H / Hk; }
};

AttnDims attention_dims(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                        const AttentionParams& p) {
  for (const auto& [name, t] : {std::pair{"q", &q}, std::pair{"k", &k}, std::pair{"v", &v}}) {
    check_float(op, name, *t);
    check_ndim(op, name, *t, 3, "(B, T, H*D)");
  }
  check_same(op, {&q, &k, &v});
  SPT_CHECK(p.heads >= 1, "[", op, "] heads must be >= 1, got ", p.heads);
  AttnDims d{q.dim(0), q.dim(1), k.dim(1), p.heads, 0, q.dim(2), p.scale, 0, 0};
  SPT_CHECK(d.C % d.H == 0, "[", op, "] q ", q.str(), ": hidden size ", d.C,
            " is not divisible by heads = ", d.H);
  d.D = d.C / d.H;
  d.Hk = p.kv_heads > 0 ? p.kv_heads : p.heads;
  SPT_CHECK(d.H % d.Hk == 0, "[", op, "] heads = ", d.H, " is not a multiple of kv_heads = ", d.Hk,
            "; hint: grouped-query attention shares each key/value head among H / kv_heads query heads");
  d.Ck = d.Hk * d.D;
  check_shape(op, "k", k, {d.B, d.Tk, d.Ck});
  check_shape(op, "v", v, {d.B, d.Tk, d.Ck});
  if (d.scale <= 0.f) d.scale = 1.f / std::sqrt(static_cast<float>(d.D));
  SPT_CHECK(p.dropout.p >= 0.f && p.dropout.p < 1.f, "[", op,
            "] dropout probability must be in [0, 1), got ", p.dropout.p);
  return d;
}

// Per-head GEMMs over (rows x D) blocks of (B, T, H*D) tensors and (Tq x Tk)
// blocks of (B, H, Tq, Tk) tensors. Group g addresses query heads kh G + g
// (batch items (b, kh)); G == 1 is plain multi-head attention.
struct HeadGemm {
  const AttnDims& d;
  // One operand: the tensor, its element offset for group g, and strides.
  struct Op {
    const Tensor* t;
    int64_t off, ld, outer, inner;
  };
  // Query-side (B, T, H*D) tensor (q, out, dq, dout), group g.
  Op qs(const Tensor& t, int64_t T, int64_t g) const { return {&t, g * d.D, d.C, T * d.C, d.G() * d.D}; }
  // Key/value-side (B, Tk, Hk*D) tensor (k, v, dk, dv).
  Op kv(const Tensor& t) const { return {&t, 0, d.Ck, d.Tk * d.Ck, d.D}; }
  // (B, H, Tq, Tk) tensor (scores, probabilities), group g.
  Op bhqk(const Tensor& t, int64_t g) const {
    return {&t, g * d.Tq * d.Tk, d.Tk, d.H * d.Tq * d.Tk, d.G() * d.Tq * d.Tk};
  }

  static Tensor at(const Tensor& t, int64_t off) {
    return off == 0 ? t : t.reshape({t.numel()}).narrow0(off, t.numel());
  }
  void run(Backend& be, Op oc, Op oa, bool ta, Op ob, bool tb, int64_t m, int64_t n, int64_t k,
           float beta = 0.f) const {
    Tensor c = at(*oc.t, oc.off);
    be.gemm({.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .lda = oa.ld, .ldb = ob.ld,
             .ldc = oc.ld, .batch_outer = d.B, .batch_inner = d.Hk, .stride_a_outer = oa.outer,
             .stride_a_inner = oa.inner, .stride_b_outer = ob.outer, .stride_b_inner = ob.inner,
             .stride_c_outer = oc.outer, .stride_c_inner = oc.inner, .alpha = 1.f, .beta = beta},
            c, at(*oa.t, oa.off), at(*ob.t, ob.off));
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
  for (int64_t g = 0; g < d.G(); ++g)
    hg.run(be, hg.bhqk(scores, g), hg.qs(q, d.Tq, g), false, hg.kv(k), true, d.Tq, d.Tk, d.D);
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
  for (int64_t g = 0; g < d.G(); ++g)
    hg.run(be, hg.qs(out, d.Tq, g), hg.bhqk(*probs, g), false, hg.kv(v), false, d.Tq, d.D, d.Tk);
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
  for (int64_t g = 0; g < d.G(); ++g)
    hg.run(be, hg.kv(dv), hg.bhqk(*pd, g), true, hg.qs(dout, d.Tq, g), false, d.Tk, d.D, d.Tq,
           g > 0 ? 1.f : 0.f);
  // dPd = dOut V^T  (into tmp), then through dropout and the softmax.
  for (int64_t g = 0; g < d.G(); ++g)
    hg.run(be, hg.bhqk(tmp, g), hg.qs(dout, d.Tq, g), false, hg.kv(v), true, d.Tq, d.Tk, d.D);
  // dS = softmax_bwd(dropout_bwd(dPd)) = s (Pd dPd - P sum(Pd dPd)): no mask redraw.
  SoftmaxParams sp{d.B, d.H, d.Tq, d.Tk, d.scale, p.causal};
  Tensor ds = Tensor::empty({d.B, d.H, d.Tq, d.Tk}, dt, dev);
  be.softmax_bwd(sp, ds, tmp, saved.probs, drop ? saved.dropped : Tensor());
  // dQ = dS K,  dK = dS^T Q
  for (int64_t g = 0; g < d.G(); ++g) {
    hg.run(be, hg.qs(dq, d.Tq, g), hg.bhqk(ds, g), false, hg.kv(k), false, d.Tq, d.D, d.Tk);
    hg.run(be, hg.kv(dk), hg.bhqk(ds, g), true, hg.qs(q, d.Tq, g), false, d.Tk, d.D, d.Tq,
           g > 0 ? 1.f : 0.f);
  }
}

}  // namespace spt::ops
