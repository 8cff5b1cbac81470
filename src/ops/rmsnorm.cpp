// RMS norm op (spt/ops/rmsnorm.h): checks at the boundary, then the backend.
#include "spt/ops/rmsnorm.h"

#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

void rmsnorm_forward(Tensor& y, RmsNormSaved& saved, const Tensor& x, const Tensor& w, float eps) {
  SPT_PROFILE_SCOPE("rmsnorm_forward");
  const char* op = "rmsnorm";
  const LayerNormParams p = norm_params(op, x, w, eps);
  check_same(op, {&x, &w});
  ensure_output(op, "y", y, x.shape(), x.dtype(), x.device());
  ensure_output(op, "rstd", saved.rstd, {p.rows}, x.dtype(), x.device());
  backend_for(x.device()).rmsnorm_fwd(p, y, saved.rstd, x, w);
}

void rmsnorm_backward(Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const RmsNormSaved& saved) {
  SPT_PROFILE_SCOPE("rmsnorm_backward");
  const char* op = "rmsnorm backward";
  const LayerNormParams p = norm_params(op, x, w, 1.f);
  check_float(op, "dy", dy);
  check_shape(op, "dy", dy, x.shape());
  check_float(op, "dw", dw);
  check_shape(op, "dw", dw, w.shape());
  check_float(op, "saved.rstd", saved.rstd);
  check_shape(op, "saved.rstd", saved.rstd, {p.rows});
  check_same(op, {&x, &w, &dy, &dw, &saved.rstd});
  ensure_output(op, "dx", dx, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).rmsnorm_bwd(p, dx, dw, dy, x, w, saved.rstd);
}

}  // namespace spt::ops
