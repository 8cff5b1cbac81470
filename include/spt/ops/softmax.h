// Masked, scaled softmax over the last dim of attention scores.
// x, y (B, H, Tq, Tk); key_mask (B, Tk) i32 (nonzero = visible) or undefined.
// Rows with no visible key give zeros (never NaN).
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

void softmax_forward(Tensor& y, const Tensor& x, const Tensor& key_mask, bool causal, float scale);
// dx = scale * y * (dy - sum(y * dy)) (written)
void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, float scale);

}  // namespace spt::ops
