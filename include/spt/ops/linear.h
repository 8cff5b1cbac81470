// Linear layer: y = x W^T + b, with W stored (out, in) as Hugging Face stores it.
// Shapes: x (..., in), W (out, in), b (out) or undefined, y (..., out).
#pragma once

#include "spt/core/tensor.h"

namespace spt::ops {

// y is allocated when undefined.
void linear_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b);
// dx = dy W (written; skipped when dx is undefined and `need_dx` false),
// dw += dy^T x (skipped when dw is undefined: a frozen weight),
// db += sum over rows of dy (skipped when db is undefined).
void linear_backward(Tensor& dx, Tensor& dw, Tensor& db, const Tensor& dy, const Tensor& x,
                     const Tensor& w, bool need_dx = true);

}  // namespace spt::ops
