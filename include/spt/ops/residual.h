// Residual connection y = a + b, and gradient accumulation dst += src.
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

void residual_forward(Tensor& y, const Tensor& a, const Tensor& b);
// da = dy, db = dy (written; an undefined target is skipped unless allocated by caller).
void residual_backward(Tensor& da, Tensor& db, const Tensor& dy);
// dst += src (same shape, dtype, device).
void accumulate(Tensor& dst, const Tensor& src);

}  // namespace spt::ops
