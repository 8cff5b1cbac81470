// Sparse multi-head attention (the SPT method's first half): each query attends
// to L of its keys, chosen by product quantisation, with exact attention on the
// chosen pairs and only O(T L) state kept for backward.
//
//   idx = select(q, k)                      (spt::Backend::sparse_select)
//   P_ij = softmax_j(scale q_i . k_j) over j in idx_i,  out_i = sum_j dropout(P)_ij v_j
//
// Shapes: q (B, Tq, H*D); k, v (B, Tk, Hk*D) with Hk dividing H (query head h
// reads key/value head h / (H / Hk)); key_mask (B, Tk) i32 or undefined;
// codebooks (Hk, M, C, D/M) f32. idx (B, H, Tq, L): i16 when Tk <= 32767, else
// i32; each row's keys in increasing order, then -1. Saved for backward: idx,
// lse (B, H, Tq) and the output (shared with the caller's tensor, no copy):
// about B H Tq (2 L + 4) bytes instead of dense attention's 4 B H Tq Tk.
// With L at least the number of visible keys, this is dense attention exactly
// (up to rounding), dropout mask included: sparse attention keys its dropout by
// the dense element (b, h, i, j).
#pragma once

#include "spt/backend/backend.h"

namespace spt::ops {

// How many keys each query keeps, and how they are chosen (the `attention`
// config section).
struct SparseSelection {
  int64_t top_l = 0;        // > 0: L keys per query (forced keys included)
  float top_ratio = 0.125f; // else ceil(top_ratio * visible keys) ...
  int64_t min_l = 16;       // ... but at least min_l
  int64_t keep_first = 0;   // keys j < keep_first always kept (CLS, attention sink)
  int64_t local_window = 0; // keys within this distance of the query always kept
  int64_t rerank = 1;       // rerank * L candidates by PQ score, re-scored exactly
};

struct SparseAttentionParams {
  int64_t heads = 1;
  int64_t kv_heads = 0;  // 0: = heads
  bool causal = false;   // query i sees keys j <= i + (Tk - Tq)
  float scale = 0.f;     // 0: 1 / sqrt(D)
  DropoutParams dropout; // on the probabilities
  SparseSelection select;
  SparseKernel kernel = SparseKernel::fused;  // CUDA: fused kernels or the cuSPARSE path
  bool deterministic = false;                 // CUDA: backward without atomics
};

struct SparseAttentionSaved {
  Tensor idx;  // (B, H, Tq, L) i16 / i32
  Tensor lse;  // (B, H, Tq)
  Tensor out;  // the forward's output (same storage)
  int64_t saved_bytes() const { return idx.nbytes() + lse.nbytes(); }
};

// Slots per query for Tk keys: the budget of a row that sees every key.
int64_t sparse_slots(const SparseSelection& s, int64_t tk);
// i16 when it holds every key index, else i32.
DType sparse_index_dtype(int64_t tk);

// Chooses each query's keys. codebooks (Hk, M, C, D/M) f32.
void sparse_select(Tensor& idx, const Tensor& q, const Tensor& k, const Tensor& key_mask,
                   const Tensor& codebooks, const SparseAttentionParams& p);

// Attention on the pattern idx; out written, saved filled (saved.out = out).
void sparse_attention_forward(Tensor& out, SparseAttentionSaved& saved, const Tensor& q,
                              const Tensor& k, const Tensor& v, const Tensor& idx,
                              const SparseAttentionParams& p);
// dq, dk, dv written.
void sparse_attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout,
                               const Tensor& q, const Tensor& k, const Tensor& v,
                               const SparseAttentionSaved& saved, const SparseAttentionParams& p);

}  // namespace spt::ops
