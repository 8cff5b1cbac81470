// Sparse attention: shape checks at the op boundary, then the backend's
// selection and attention kernels (src/cpu/sparse_*.cpp, cuda/sparse_*.cu).
#include "spt/ops/sparse_attention.h"

#include <cmath>
#include <limits>

#include "spt/backend/sparse_attention_math.h"
#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

spt::SparseAttentionParams attn_dims(const char* op, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const SparseAttentionParams& p) {
  for (const auto& [name, t] : {std::pair{"q", &q}, std::pair{"k", &k}, std::pair{"v", &v}}) {
    check_float(op, name, *t);
    check_ndim(op, name, *t, 3, "(B, T, heads*D)");
  }
  check_same(op, {&q, &k, &v});
  const int64_t kvh = p.kv_heads > 0 ? p.kv_heads : p.heads;
  SPT_CHECK(p.heads >= 1 && p.heads % kvh == 0, "[", op, "] heads = ", p.heads,
            " must be a positive multiple of kv_heads = ", kvh);
  SPT_CHECK(q.dim(2) % p.heads == 0, "[", op, "] q ", q.str(), ": hidden size ", q.dim(2),
            " is not divisible by heads = ", p.heads);
  spt::SparseAttentionParams a;
  a.batch = q.dim(0);
  a.heads = p.heads;
  a.kv_heads = kvh;
  a.tq = q.dim(1);
  a.tk = k.dim(1);
  a.head_dim = q.dim(2) / p.heads;
  check_shape(op, "k", k, {a.batch, a.tk, kvh * a.head_dim});
  check_shape(op, "v", v, {a.batch, a.tk, kvh * a.head_dim});
  a.scale = p.scale > 0.f ? p.scale : 1.f / std::sqrt(static_cast<float>(a.head_dim));
  SPT_CHECK(p.dropout.p >= 0.f && p.dropout.p < 1.f, "[", op,
            "] dropout probability must be in [0, 1), got ", p.dropout.p);
  a.dropout = p.dropout;
  a.kernel = p.kernel;
  a.deterministic = p.deterministic;
  return a;
}

void check_idx(const char* op, const Tensor& idx, const spt::SparseAttentionParams& a,
               const Tensor& q) {
  check_defined(op, "idx", idx);
  SPT_CHECK(idx.dtype() == DType::i16 || idx.dtype() == DType::i32, "[", op,
            "] idx must be i16 or i32, got ", idx.str());
  SPT_CHECK(idx.ndim() == 4 && idx.dim(0) == a.batch && idx.dim(1) == a.heads &&
                idx.dim(2) == a.tq && idx.dim(3) >= 1,
            "[", op, "] idx must have shape (", a.batch, ", ", a.heads, ", ", a.tq, ", L), got ",
            idx.str());
  SPT_CHECK(idx.dtype() == DType::i32 || a.tk <= std::numeric_limits<int16_t>::max(), "[", op,
            "] idx is i16 but there are ", a.tk, " keys");
  SPT_CHECK(idx.is_contiguous(), "[", op, "] idx must be contiguous, got ", idx.str());
  check_same(op, {&q, &idx});
}

}  // namespace

int64_t sparse_slots(const SparseSelection& s, int64_t tk) {
  return std::max<int64_t>(1, sparse::row_budget(tk, s.top_l, s.top_ratio, s.min_l));
}

DType sparse_index_dtype(int64_t tk) {
  return tk <= std::numeric_limits<int16_t>::max() ? DType::i16 : DType::i32;
}

void sparse_select(Tensor& idx, const Tensor& q, const Tensor& k, const Tensor& key_mask,
                   const Tensor& codebooks, const SparseAttentionParams& p) {
  SPT_PROFILE_SCOPE("sparse_select");
  const char* op = "sparse_select";
  spt::SparseSelectParams s;
  s.attn = attn_dims(op, q, k, k, p);
  const SparseSelection& sel = p.select;
  SPT_CHECK(sel.top_l >= 0 && sel.min_l >= 0 && sel.keep_first >= 0 && sel.local_window >= 0 &&
                sel.rerank >= 1,
            "[", op, "] top_l, min_l, keep_first, local_window must be >= 0 and rerank >= 1");
  SPT_CHECK(sel.top_l > 0 || (sel.top_ratio > 0.f && sel.top_ratio <= 1.f), "[", op,
            "] top_ratio must be in (0, 1] when top_l is 0, got ", sel.top_ratio);
  check_float(op, "codebooks", codebooks);
  SPT_CHECK(codebooks.dtype() == DType::f32, "[", op, "] codebooks must be f32, got ",
            codebooks.str());
  SPT_CHECK(codebooks.ndim() == 4 && codebooks.dim(0) == s.attn.kv_heads &&
                codebooks.dim(1) * codebooks.dim(3) == s.attn.head_dim && codebooks.dim(2) >= 1 &&
                codebooks.dim(2) <= 256,
            "[", op, "] codebooks must have shape (", s.attn.kv_heads, ", M, C <= 256, ",
            s.attn.head_dim, " / M), got ", codebooks.str());
  check_same(op, {&q, &codebooks});
  SPT_CHECK(q.dtype() == DType::f32, "[", op, "] runs in f32, got ", q.str());
  if (key_mask.defined()) {
    check_index(op, "key_mask", key_mask);
    check_shape(op, "key_mask", key_mask, {s.attn.batch, s.attn.tk});
    check_same(op, {&q, &key_mask});
  }
  s.causal = p.causal;
  s.top_l = sel.top_l;
  s.top_ratio = sel.top_ratio;
  s.min_l = sel.min_l;
  s.keep_first = sel.keep_first;
  s.local_window = sel.local_window;
  s.rerank = sel.rerank;
  s.subspaces = codebooks.dim(1);
  s.codewords = codebooks.dim(2);
  s.attn.slots = sparse_slots(sel, s.attn.tk);
  ensure_output(op, "idx", idx, {s.attn.batch, s.attn.heads, s.attn.tq, s.attn.slots},
                sparse_index_dtype(s.attn.tk), q.device());
  backend_for(q.device()).sparse_select(s, idx, q, k, key_mask, codebooks);
}

void sparse_attention_forward(Tensor& out, SparseAttentionSaved& saved, const Tensor& q,
                              const Tensor& k, const Tensor& v, const Tensor& idx,
                              const SparseAttentionParams& p) {
  SPT_PROFILE_SCOPE("sparse_attention_forward");
  const char* op = "sparse_attention";
  spt::SparseAttentionParams a = attn_dims(op, q, k, v, p);
  check_idx(op, idx, a, q);
  a.slots = idx.dim(3);
  ensure_output(op, "out", out, q.shape(), q.dtype(), q.device());
  saved.idx = idx;
  saved.lse = Tensor();
  ensure_output(op, "saved.lse", saved.lse, {a.batch, a.heads, a.tq}, q.dtype(), q.device());
  backend_for(q.device()).sparse_attention_fwd(a, out, saved.lse, q, k, v, idx);
  saved.out = out;
}

void sparse_attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout,
                               const Tensor& q, const Tensor& k, const Tensor& v,
                               const SparseAttentionSaved& saved, const SparseAttentionParams& p) {
  SPT_PROFILE_SCOPE("sparse_attention_backward");
  const char* op = "sparse_attention backward";
  spt::SparseAttentionParams a = attn_dims(op, q, k, v, p);
  check_idx(op, saved.idx, a, q);
  a.slots = saved.idx.dim(3);
  check_float(op, "dout", dout);
  check_shape(op, "dout", dout, q.shape());
  check_shape(op, "saved.out", saved.out, q.shape());
  check_shape(op, "saved.lse", saved.lse, {a.batch, a.heads, a.tq});
  check_same(op, {&q, &dout, &saved.out, &saved.lse});
  ensure_output(op, "dq", dq, q.shape(), q.dtype(), q.device());
  ensure_output(op, "dk", dk, k.shape(), k.dtype(), k.device());
  ensure_output(op, "dv", dv, v.shape(), v.dtype(), v.device());
  backend_for(q.device()).sparse_attention_bwd(a, dq, dk, dv, dout, q, k, v, saved.out, saved.lse,
                                               saved.idx);
}

}  // namespace spt::ops
