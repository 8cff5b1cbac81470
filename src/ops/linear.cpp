// linear: y (N, out) = x (N, in) W^T + b, leading dims of x flattened into N.
// Backward: dx = dy W; dW += dy^T x; db += sum_n dy.
// Mixed precision (runtime.precision = bf16 | fp16): W is a bf16 / f16 copy of
// the f32 master weight; x and dy are rounded to that dtype for the GEMMs, which
// accumulate in f32 and write f32 y, dx and dW (PyTorch autocast's matmul
// numerics, with f32 outputs); the bias and everything outside stays f32.
#include "spt/ops/linear.h"

#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

struct LinearDims {
  int64_t n, in, out;
  Shape y_shape;
};

LinearDims linear_dims(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  check_float(op, "x", x);
  check_weight(op, "w", w, x);
  check_ndim(op, "w", w, 2, "(out, in)");
  SPT_CHECK(x.ndim() >= 1, "[", op, "] x must have shape (..., in), got ", x.str());
  const int64_t in = w.dim(1), out = w.dim(0);
  SPT_CHECK(x.dim(-1) == in, "[", op, "] x ", x.str(), " does not match w ", w.str(),
            ": last dim of x must equal w's in-features ", in);
  if (b.defined()) {
    check_float(op, "b", b);
    check_shape(op, "b", b, {out});
  }
  check_same(op, {&x, &b});
  Shape ys = x.shape();
  ys.back() = out;
  return {x.numel() / in, in, out, ys};
}

// t rounded to w's dtype when w is a low-precision compute copy; else t itself.
Tensor gemm_operand(const Tensor& t, const Tensor& w) {
  if (!is_low_precision(w)) return t;
  Tensor r = Tensor::empty(t.shape(), w.dtype(), t.device());
  backend_for(t.device()).cast(r, t);
  return r;
}

}  // namespace

void linear_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b) {
  SPT_PROFILE_SCOPE("linear_forward");
  const LinearDims d = linear_dims("linear", x, w, b);
  ensure_output("linear", "y", y, d.y_shape, x.dtype(), x.device());
  Backend& be = backend_for(x.device());
  // y (N, out) = x (N, in) * W^T
  be.gemm(
      {.trans_b = true, .m = d.n, .n = d.out, .k = d.in, .lda = d.in, .ldb = d.in, .ldc = d.out},
      y, gemm_operand(x, w), w);
  if (b.defined()) be.add_bias(y, b);
}

void linear_backward(Tensor& dx, Tensor& dw, Tensor& db, const Tensor& dy, const Tensor& x,
                     const Tensor& w, bool need_dx) {
  SPT_PROFILE_SCOPE("linear_backward");
  const char* op = "linear backward";
  const LinearDims d = linear_dims(op, x, w, db);
  check_float(op, "dy", dy);
  check_shape(op, "dy", dy, d.y_shape);
  check_same(op, {&x, &dy, &dw});
  Backend& be = backend_for(x.device());
  const Tensor dyc = gemm_operand(dy, w);
  if (need_dx || dx.defined()) {
    ensure_output(op, "dx", dx, x.shape(), x.dtype(), x.device());
    // dx (N, in) = dy (N, out) * W (out, in)
    be.gemm({.m = d.n, .n = d.in, .k = d.out, .lda = d.out, .ldb = d.in, .ldc = d.in}, dx, dyc, w);
  }
  if (dw.defined()) {  // undefined: frozen weight
    check_float(op, "dw", dw);
    check_shape(op, "dw", dw, w.shape());
    // dW (out, in) += dy^T (out, N) * x (N, in)
    be.gemm({.trans_a = true, .m = d.out, .n = d.in, .k = d.n, .lda = d.out, .ldb = d.in,
             .ldc = d.in, .beta = 1.f},
            dw, dyc, gemm_operand(x, w));
  }
  if (db.defined()) be.sum_rows(db, dy);
}

}  // namespace spt::ops
