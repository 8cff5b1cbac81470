// Op-layer validation for mean pooling (include/spt/ops/pooling.h).
#include "spt/ops/pooling.h"

#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

void check_mask(const char* op, const Tensor& mask, const Tensor& x) {
  if (!mask.defined()) return;
  check_index(op, "mask", mask);
  check_shape(op, "mask", mask, {x.dim(0), x.dim(1)});
}

}  // namespace

void mean_pool_forward(Tensor& y, const Tensor& x, const Tensor& mask) {
  SPT_PROFILE_SCOPE("mean_pool_forward");
  const char* op = "mean_pool";
  check_float(op, "x", x);
  check_ndim(op, "x", x, 3, "(B, T, C)");
  check_mask(op, mask, x);
  check_same(op, {&x, &mask});
  ensure_output(op, "y", y, {x.dim(0), x.dim(2)}, x.dtype(), x.device());
  backend_for(x.device()).mean_pool_fwd(y, x, mask);
}

void mean_pool_backward(Tensor& dx, const Tensor& dy, const Tensor& mask) {
  SPT_PROFILE_SCOPE("mean_pool_backward");
  const char* op = "mean_pool backward";
  check_float(op, "dy", dy);
  check_ndim(op, "dy", dy, 2, "(B, C)");
  SPT_CHECK(dx.defined() || mask.defined(), "[", op, "] needs dx allocated as (B, T, C) or the (B, T) mask");
  const int64_t T = dx.defined() ? dx.dim(1) : mask.dim(1);
  ensure_output(op, "dx", dx, {dy.dim(0), T, dy.dim(1)}, dy.dtype(), dy.device());
  check_mask(op, mask, dx);
  check_same(op, {&dx, &dy, &mask});
  backend_for(dy.device()).mean_pool_bwd(dx, dy, mask);
}

}  // namespace spt::ops
