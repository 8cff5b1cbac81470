// Embedding lookup. weight (V, C); ids (...) i32 in [0, V); out (..., C).
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

// out[n, :] = weight[ids[n], :]. Throws if any id is outside [0, V).
void embedding_forward(Tensor& out, const Tensor& weight, const Tensor& ids);
// dweight[ids[n], :] += dout[n, :] (scatter-add; repeated ids accumulate).
void embedding_backward(Tensor& dweight, const Tensor& dout, const Tensor& ids);

}  // namespace spt::ops
