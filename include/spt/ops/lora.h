// LoRA linear layer (Hu et al. 2021; Hugging Face PEFT's lora.Linear):
//   y = x W^T + b + s * (dropout(x) A^T) B^T
// W (out, in) and b (out) the (usually frozen) base layer, A (r, in), B (out, r)
// the adapter, s = alpha / r (or alpha / sqrt(r), rsLoRA), dropout on the
// adapter's input only. Shapes: x (..., in) -> y (..., out), N = rows of x.
//
// Forward saves u = dropout(x) A^T (N, r), so that backward never recomputes
// x A^T, and the dropout mask as bits (1 bit per element of x), so that it is
// drawn once. Backward:
//   g  = s * dy B                         (N, r)
//   dB += s * dy^T u                      (out, r)
//   dA += g^T dropout(x)                  (r, in)
//   dx  = dy W + dropout_bwd(g A)         (written; the base part skipped with need_dx false)
//   dW += dy^T x, db += sum dy            (skipped when undefined: frozen base)
// Activation gradients are written, parameter gradients accumulated.
#pragma once

#include "spt/backend/backend.h"

namespace spt::ops {

struct LoraParams {
  float scale = 1.f;      // s
  DropoutParams dropout;  // on the adapter's input; p = 0: none
};

// y is allocated when undefined; u (N, r) is the saved adapter activation and
// `mask` the dropout mask bits (undefined when p = 0), both for backward.
void lora_linear_forward(Tensor& y, Tensor& u, Tensor& mask, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& a, const Tensor& bm, const LoraParams& p);

// dw/db/da/dbm: accumulated when defined (frozen: undefined). dx written when
// need_dx or defined.
void lora_linear_backward(Tensor& dx, Tensor& dw, Tensor& db, Tensor& da, Tensor& dbm,
                          const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& a,
                          const Tensor& bm, const Tensor& u, const Tensor& mask, const LoraParams& p,
                          bool need_dx = true);

}  // namespace spt::ops
