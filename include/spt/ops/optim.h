// Optimizer step and gradient-norm utilities.
#pragma once

#include <vector>

#include "spt/backend/backend.h"

namespace spt::ops {

// One AdamW step (torch.optim.AdamW semantics) on f32 tensors of one shape.
void adamw_step(Tensor& param, Tensor& m, Tensor& v, const Tensor& grad, const AdamWParams& p);

// sqrt(sum of squares of every element of every tensor).
double global_grad_norm(const std::vector<Tensor>& grads);

// torch.nn.utils.clip_grad_norm_: if norm > max_norm, scales every gradient by
// max_norm / (norm + 1e-6). Returns the norm before clipping.
double clip_grad_norm(std::vector<Tensor>& grads, double max_norm);
// The same with the norm already known (global_grad_norm of these gradients).
double clip_grad_norm(std::vector<Tensor>& grads, double max_norm, double norm);

}  // namespace spt::ops
