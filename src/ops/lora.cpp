// LoRA linear (see include/spt/ops/lora.h for the maths): the base linear plus
// four small GEMMs of inner size r, all through the backend's GEMM (alpha = s,
// beta = 1 accumulates into y, dx, dA, dB without temporaries).
#include "spt/ops/lora.h"

#include "spt/core/profile.h"
#include "spt/ops/dropout.h"
#include "spt/ops/linear.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

struct LoraDims {
  int64_t n, in, out, r;
};

LoraDims lora_dims(const char* op, const Tensor& x, const Tensor& w, const Tensor& a,
                   const Tensor& bm, const LoraParams& p) {
  check_float(op, "x", x);
  check_weight(op, "w", w, x);  // f32, or a bf16 / f16 compute copy (the adapter stays f32)
  check_float(op, "A", a);
  check_float(op, "B", bm);
  check_ndim(op, "w", w, 2, "(out, in)");
  check_ndim(op, "A", a, 2, "(r, in)");
  check_ndim(op, "B", bm, 2, "(out, r)");
  const int64_t in = w.dim(1), out = w.dim(0), r = a.dim(0);
  SPT_CHECK(x.ndim() >= 1 && x.dim(-1) == in, "[", op, "] x ", x.str(), " does not match w ",
            w.str(), ": last dim of x must equal w's in-features ", in);
  SPT_CHECK(r >= 1 && a.dim(1) == in, "[", op, "] A ", a.str(), " must be (r, in) with in = ", in);
  check_shape(op, "B", bm, {out, r});
  SPT_CHECK(p.dropout.p >= 0.f && p.dropout.p < 1.f, "[", op, "] dropout p must be in [0, 1), got ",
            p.dropout.p);
  check_same(op, {&x, &a, &bm});
  return {x.numel() / in, in, out, r};
}

// dropout(x) viewed as (N, in) with the saved mask: x itself when p = 0.
Tensor dropped_input(const Tensor& x2, const Tensor& mask, const LoraParams& p) {
  if (p.dropout.p == 0.f) return x2;
  Tensor xd;
  dropout_apply_bits(xd, x2, mask, p.dropout.p);
  return xd;
}

}  // namespace

void lora_linear_forward(Tensor& y, Tensor& u, Tensor& mask, const Tensor& x, const Tensor& w,
                         const Tensor& b, const Tensor& a, const Tensor& bm, const LoraParams& p) {
  SPT_PROFILE_SCOPE("lora_linear_forward");
  const LoraDims d = lora_dims("lora linear", x, w, a, bm, p);
  linear_forward(y, x, w, b);
  Backend& be = backend_for(x.device());
  const Tensor x2 = x.reshape({d.n, d.in});
  Tensor y2 = y.reshape({d.n, d.out});
  Tensor xd = x2;
  mask = Tensor();
  if (p.dropout.p > 0.f) {
    xd = Tensor();
    dropout_forward_bits(xd, mask, x2, p.dropout);  // the only draw of this mask
  }
  u = Tensor::empty({d.n, d.r}, x.dtype(), x.device());
  // u (N, r) = dropout(x) (N, in) A^T
  be.gemm({.trans_b = true, .m = d.n, .n = d.r, .k = d.in, .lda = d.in, .ldb = d.in, .ldc = d.r},
          u, xd, a);
  // y (N, out) += s * u B^T
  be.gemm({.trans_b = true, .m = d.n, .n = d.out, .k = d.r, .lda = d.r, .ldb = d.r, .ldc = d.out,
           .alpha = p.scale, .beta = 1.f},
          y2, u, bm);
}

void lora_linear_backward(Tensor& dx, Tensor& dw, Tensor& db, Tensor& da, Tensor& dbm,
                          const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& a,
                          const Tensor& bm, const Tensor& u, const Tensor& mask, const LoraParams& p,
                          bool need_dx) {
  SPT_PROFILE_SCOPE("lora_linear_backward");
  const char* op = "lora linear backward";
  const LoraDims d = lora_dims(op, x, w, a, bm, p);
  check_float(op, "u", u);
  check_shape(op, "u", u, {d.n, d.r});
  check_same(op, {&x, &dy, &u, &da, &dbm});
  SPT_CHECK(p.dropout.p == 0.f || mask.defined(), "[", op, "] the dropout mask of forward is missing");
  if (da.defined()) check_shape(op, "dA", da, a.shape());
  if (dbm.defined()) check_shape(op, "dB", dbm, bm.shape());
  linear_backward(dx, dw, db, dy, x, w, need_dx);
  Backend& be = backend_for(x.device());
  const Tensor dy2 = dy.reshape({d.n, d.out});
  if (dbm.defined()) {
    // dB (out, r) += s * dy^T (out, N) u (N, r)
    be.gemm({.trans_a = true, .m = d.out, .n = d.r, .k = d.n, .lda = d.out, .ldb = d.r,
             .ldc = d.r, .alpha = p.scale, .beta = 1.f},
            dbm, dy2, u);
  }
  const bool want_dx = dx.defined();
  if (!da.defined() && !want_dx) return;
  // g (N, r) = s * dy (N, out) B (out, r)
  Tensor g = Tensor::empty({d.n, d.r}, x.dtype(), x.device());
  be.gemm({.m = d.n, .n = d.r, .k = d.out, .lda = d.out, .ldb = d.r, .ldc = d.r, .alpha = p.scale},
          g, dy2, bm);
  if (da.defined()) {
    // dA (r, in) += g^T (r, N) dropout(x) (N, in)
    const Tensor xd = dropped_input(x.reshape({d.n, d.in}), mask, p);
    be.gemm({.trans_a = true, .m = d.r, .n = d.in, .k = d.n, .lda = d.r, .ldb = d.in, .ldc = d.in,
             .beta = 1.f},
            da, g, xd);
  }
  if (want_dx) {
    Tensor dx2 = dx.reshape({d.n, d.in});
    if (p.dropout.p == 0.f) {
      // dx (N, in) += g (N, r) A (r, in)
      be.gemm({.m = d.n, .n = d.in, .k = d.r, .lda = d.r, .ldb = d.in, .ldc = d.in, .beta = 1.f},
              dx2, g, a);
    } else {
      Tensor t = Tensor::empty({d.n, d.in}, x.dtype(), x.device());
      be.gemm({.m = d.n, .n = d.in, .k = d.r, .lda = d.r, .ldb = d.in, .ldc = d.in}, t, g, a);
      dropout_apply_bits(t, t, mask, p.dropout.p);  // in place: the mask's backward
      be.axpy(dx2, t, 1.f);
    }
  }
}

}  // namespace spt::ops
