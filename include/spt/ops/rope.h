// Rotary position embeddings in the Hugging Face layout (LLaMA's
// apply_rotary_pos_emb with rotate_half): for every row n, head h and j < D/2,
// with p = pos[n], c = cos[p, j], s = sin[p, j]:
//   y[j]       = x[j] c - x[j + D/2] s
//   y[j + D/2] = x[j + D/2] c + x[j] s
// (HF's cos/sin tables repeat their D/2 frequencies twice; spt keeps one copy.)
// The model builds the tables (theta, the RoPE scaling type, attention scaling),
// so the op is the same for every variant. Backward is the inverse rotation:
//   dx[j] = dy[j] c + dy[j + D/2] s,  dx[j + D/2] = dy[j + D/2] c - dy[j] s
// x (N, heads * D) (e.g. q of N = B T tokens), pos (N) i32 in [0, P),
// cos and sin (P, D/2); no gradient for the tables.
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

// y is allocated when undefined.
void rope_forward(Tensor& y, const Tensor& x, const Tensor& pos, const Tensor& cos, const Tensor& sin,
                  int64_t heads);
// dx written.
void rope_backward(Tensor& dx, const Tensor& dy, const Tensor& pos, const Tensor& cos, const Tensor& sin,
                   int64_t heads);

}  // namespace spt::ops
