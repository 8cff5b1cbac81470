// Argument validation shared by the op layer. Every op validates once here and
// then calls the backend, which assumes valid input. Messages name the op.
#pragma once

#include <initializer_list>
#include <string>

#include "spt/backend/backend.h"
#include "spt/core/error.h"

namespace spt::ops {

inline void check_defined(const char* op, const char* name, const Tensor& t) {
  SPT_CHECK(t.defined(), "[", op, "] ", name, " is undefined");
}

// A float tensor of a dtype the op runs in on its device (cpu: f32, f64; cuda: f32),
// contiguous.
inline void check_float(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  const DType dt = t.dtype();
  const bool ok = t.device().is_cpu() ? (dt == DType::f32 || dt == DType::f64) : dt == DType::f32;
  SPT_CHECK(ok, "[", op, "] ", name, " has dtype ", dtype_name(dt), " (", t.str(),
            "); supported on ", t.device().str(), ": ", t.device().is_cpu() ? "f32, f64" : "f32");
  SPT_CHECK(t.is_contiguous(), "[", op, "] ", name, " must be contiguous, got ", t.str());
}

inline void check_index(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  SPT_CHECK(t.dtype() == DType::i32, "[", op, "] ", name, " must be i32, got ", t.str());
  SPT_CHECK(t.is_contiguous(), "[", op, "] ", name, " must be contiguous, got ", t.str());
}

inline void check_shape(const char* op, const char* name, const Tensor& t, const Shape& shape) {
  SPT_CHECK(t.shape() == shape, "[", op, "] ", name, " must have shape ", shape_str(shape),
            ", got ", t.str());
}

inline void check_ndim(const char* op, const char* name, const Tensor& t, int ndim,
                       const char* layout) {
  SPT_CHECK(t.ndim() == ndim, "[", op, "] ", name, " must have shape ", layout, ", got ", t.str());
}

// All defined tensors on one device and (for floats) of one dtype.
inline void check_same(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    SPT_CHECK(t->device() == first->device(), "[", op, "] tensors on different devices: ",
              first->str(), " and ", t->str());
    if (is_floating(t->dtype()) && is_floating(first->dtype()))
      SPT_CHECK(t->dtype() == first->dtype(), "[", op, "] tensors of different dtypes: ",
                first->str(), " and ", t->str());
  }
}

// True when w is a bf16 / f16 compute copy (see check_weight).
inline bool is_low_precision(const Tensor& w) { return w.dtype() == DType::bf16 || w.dtype() == DType::f16; }

// A weight used by a GEMM: x's float dtype, or, for f32 x, a bf16 / f16 copy of
// f32 master weights (runtime.precision; the op rounds x to it and accumulates
// in f32). Same device as x; contiguous.
inline void check_weight(const char* op, const char* name, const Tensor& w, const Tensor& x) {
  check_defined(op, name, w);
  if (x.defined() && x.dtype() == DType::f32 && is_low_precision(w)) {
    SPT_CHECK(w.device() == x.device(), "[", op, "] tensors on different devices: ", x.str(), " and ", w.str());
    SPT_CHECK(w.is_contiguous(), "[", op, "] ", name, " must be contiguous, got ", w.str());
    return;
  }
  check_float(op, name, w);
  check_same(op, {&x, &w});
}


// Allocates `out` when undefined; otherwise checks shape, dtype, device, contiguity.
inline void ensure_output(const char* op, const char* name, Tensor& out, const Shape& shape,
                          DType dtype, Device device) {
  if (!out.defined()) {
    out = Tensor::empty(shape, dtype, device);
    return;
  }
  SPT_CHECK(out.shape() == shape && out.dtype() == dtype && out.device() == device, "[", op,
            "] output ", name, " must be ", dtype_name(dtype), shape_str(shape), " ", device.str(),
            ", got ", out.str());
  SPT_CHECK(out.is_contiguous(), "[", op, "] output ", name, " must be contiguous, got ",
            out.str());
}

// Index ids must lie in [0, limit).
inline void check_index_range(const char* op, const char* name, const Tensor& ids, int64_t limit) {
  const int64_t bad = backend_for(ids.device()).count_out_of_range(ids, limit);
  SPT_CHECK(bad == 0, "[", op, "] ", bad, " value(s) of ", name, " outside [0, ", limit,
            "); hint: check the tokenizer's vocabulary size against the model's");
}

// Rows and columns of a normalisation over the last dim (layer norm, RMS norm):
// x (..., C) float, w (C), eps > 0.
inline LayerNormParams norm_params(const char* op, const Tensor& x, const Tensor& w, float eps) {
  check_float(op, "x", x);
  check_float(op, "w", w);
  SPT_CHECK(x.ndim() >= 1, "[", op, "] x must have shape (..., C), got ", x.str());
  check_shape(op, "w", w, {x.dim(-1)});
  SPT_CHECK(eps > 0.f, "[", op, "] eps must be positive, got ", eps);
  LayerNormParams p;
  p.cols = x.dim(-1);
  p.rows = p.cols ? x.numel() / p.cols : 0;
  p.eps = eps;
  return p;
}

}  // namespace spt::ops
