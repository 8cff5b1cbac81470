// Inverted dropout with a counter-based mask: nothing is saved for backward;
// the mask is regenerated from (seed, offset). Same mask on CPU and CUDA.
#pragma once

#include "spt/backend/backend.h"

namespace spt::ops {

void dropout_forward(Tensor& y, const Tensor& x, const DropoutParams& p);
void dropout_backward(Tensor& dx, const Tensor& dy, const DropoutParams& p);

// Dropout whose mask is kept as bits (i32 words, ceil(numel / 32); element e is
// bit e % 32 of word e / 32), for applying the same mask again later without
// drawing it (LoRA keeps its adapter-input mask this way: 1 bit per element).
// p must be > 0. y and bits are allocated when undefined.
void dropout_forward_bits(Tensor& y, Tensor& bits, const Tensor& x, const DropoutParams& p);
// y = keep ? x / (1 - p) : 0 with keep from `bits` (dropout_forward_bits's, same numel).
void dropout_apply_bits(Tensor& y, const Tensor& x, const Tensor& bits, float p);

}  // namespace spt::ops
