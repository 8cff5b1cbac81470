// RoPE op (spt/ops/rope.h): checks at the boundary, then the backend.
#include "spt/ops/rope.h"

#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

RopeParams rope_params(const char* op, const Tensor& x, const Tensor& pos, const Tensor& cos, const Tensor& sin,
                       int64_t heads) {
  check_float(op, "x", x);
  check_ndim(op, "x", x, 2, "(tokens, heads * head_dim)");
  SPT_CHECK(heads >= 1 && x.dim(1) % heads == 0 && (x.dim(1) / heads) % 2 == 0, "[", op, "] ", heads,
            " heads must split x's ", x.dim(1), " columns into heads of an even size");
  check_index(op, "pos", pos);
  check_shape(op, "pos", pos, {x.dim(0)});
  check_float(op, "cos", cos);
  check_ndim(op, "cos", cos, 2, "(positions, head_dim / 2)");
  const int64_t half = x.dim(1) / heads / 2;
  SPT_CHECK(cos.dim(1) == half, "[", op, "] cos ", cos.str(), " must have head_dim / 2 = ", half, " columns");
  check_float(op, "sin", sin);
  check_shape(op, "sin", sin, cos.shape());
  check_same(op, {&x, &cos, &sin});
  SPT_CHECK(pos.device() == x.device(), "[", op, "] pos is on ", pos.device().str(), ", x on ", x.device().str());
  check_index_range(op, "pos", pos, cos.dim(0));
  RopeParams p;
  p.rows = x.dim(0);
  p.heads = heads;
  p.head_dim = x.dim(1) / heads;
  return p;
}

}  // namespace

void rope_forward(Tensor& y, const Tensor& x, const Tensor& pos, const Tensor& cos, const Tensor& sin,
                  int64_t heads) {
  SPT_PROFILE_SCOPE("rope_forward");
  const char* op = "rope";
  const RopeParams p = rope_params(op, x, pos, cos, sin, heads);
  ensure_output(op, "y", y, x.shape(), x.dtype(), x.device());
  backend_for(x.device()).rope(p, y, x, pos, cos, sin);
}

void rope_backward(Tensor& dx, const Tensor& dy, const Tensor& pos, const Tensor& cos, const Tensor& sin,
                   int64_t heads) {
  SPT_PROFILE_SCOPE("rope_backward");
  const char* op = "rope backward";
  RopeParams p = rope_params(op, dy, pos, cos, sin, heads);
  p.inverse = true;
  ensure_output(op, "dx", dx, dy.shape(), dy.dtype(), dy.device());
  backend_for(dy.device()).rope(p, dx, dy, pos, cos, sin);
}

}  // namespace spt::ops
