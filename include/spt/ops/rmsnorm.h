// RMS normalisation over the last dim (LLaMA's LlamaRMSNorm, T5's layer norm):
//   rstd = 1 / sqrt(mean(x^2) + eps),  y = w * (x * rstd)
// x (..., C), w (C); saved rstd (N) with N = numel / C. No mean, no bias.
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

struct RmsNormSaved {
  Tensor rstd;  // (N)
};

// y and saved.rstd are allocated when undefined.
void rmsnorm_forward(Tensor& y, RmsNormSaved& saved, const Tensor& x, const Tensor& w, float eps);
// dx written; dw accumulated.
void rmsnorm_backward(Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const RmsNormSaved& saved);

}  // namespace spt::ops
