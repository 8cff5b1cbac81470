// Layer normalisation over the last dim (torch.nn.LayerNorm semantics).
// x (..., C), w (C), b (C); saved mean and rstd (N) with N = numel / C.
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

struct LayerNormSaved {
  Tensor mean;  // (N)
  Tensor rstd;  // (N) 1 / sqrt(var + eps)
};

// y and the saved tensors are allocated when undefined.
void layernorm_forward(Tensor& y, LayerNormSaved& saved, const Tensor& x, const Tensor& w,
                       const Tensor& b, float eps);
// dx written; dw, db accumulated.
void layernorm_backward(Tensor& dx, Tensor& dw, Tensor& db, const Tensor& dy, const Tensor& x,
                        const Tensor& w, const LayerNormSaved& saved);

}  // namespace spt::ops
