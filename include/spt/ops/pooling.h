// Mean pooling over the valid tokens of each sequence (sentence-transformers'
// "mean" pooling, the pooling all-MiniLM-L6-v2 and most sentence-embedding models
// were trained with). x (B, T, C) float; mask (B, T) i32 or i64, a token counts
// where mask != 0 (undefined: every token counts); y (B, C):
//   n_b        = max(1, #{t : mask[b, t] != 0})
//   y[b, c]    = sum over valid t of x[b, t, c] / n_b        (a row with no valid token pools to 0)
//   dx[b, t, c] = dy[b, c] / n_b where mask[b, t] != 0, else 0   (written)
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

// y is allocated when undefined.
void mean_pool_forward(Tensor& y, const Tensor& x, const Tensor& mask);
// dx is allocated when undefined, and written.
void mean_pool_backward(Tensor& dx, const Tensor& dy, const Tensor& mask);

}  // namespace spt::ops
