// Inverted dropout with a counter-based mask: nothing is saved for backward;
// the mask is regenerated from (seed, offset). Same mask on CPU and CUDA.
#pragma once

#include "spt/backend/backend.h"

namespace spt::ops {

void dropout_forward(Tensor& y, const Tensor& x, const DropoutParams& p);
void dropout_backward(Tensor& dx, const Tensor& dy, const DropoutParams& p);

}  // namespace spt::ops
