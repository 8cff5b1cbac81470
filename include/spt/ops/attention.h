// Dense multi-head scaled dot-product attention: the reference that sparse
// attention is checked against.
//
//   S = scale * Q_h K_h^T  (per batch b, head h),  P = masked softmax(S),
//   out_h = dropout(P) V_h
// Shapes: q (B, Tq, H*D), k and v (B, Tk, Hk*D), out (B, Tq, H*D); head h uses
// columns [h*D, (h+1)*D) (the layout of the Hugging Face projections' outputs,
// so no transpose is needed). Grouped-query attention (LLaMA's
// num_key_value_heads): Hk = kv_heads divides H and query head h reads
// key/value head h / (H / Hk), without copying K and V per query head. key_mask (B, Tk) i32 (nonzero = real token) or
// undefined. Saved for backward: P (B, H, Tq, Tk) before dropout, and dropout(P)
// when dropout is on.
#pragma once

#include "spt/backend/backend.h"

namespace spt::ops {

struct AttentionParams {
  int64_t heads = 1;
  int64_t kv_heads = 0;  // Hk; 0: heads (multi-head attention)
  bool causal = false;   // query i sees keys j <= i + (Tk - Tq)
  float scale = 0.f;     // 0: 1 / sqrt(D)
  DropoutParams dropout; // on the probabilities (p = 0: none)
};

struct AttentionSaved {
  Tensor probs;    // (B, H, Tq, Tk), before dropout
  Tensor dropped;  // (B, H, Tq, Tk), dropout(probs); only with dropout (saves redrawing the mask)
};

void attention_forward(Tensor& out, AttentionSaved& saved, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& key_mask, const AttentionParams& p);
// dq, dk, dv written.
void attention_backward(Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const AttentionSaved& saved,
                        const AttentionParams& p);

}  // namespace spt::ops
