// CPU masked softmax over the last dim of scores (B, H, Tq, Tk):
//   y_ij = exp(s x_ij - max_k s x_ik) / sum_k exp(...)  over visible keys j,
// key j visible to query i iff key_mask[b, j] != 0 (if given) and, when causal,
// j <= i + (Tk - Tq). Invisible keys get 0; a row with no visible key is all 0.
// Backward: dx_ij = s * (yd_ij dy_ij - y_ij sum_k yd_ik dy_ik)   (written), where
// yd = dropout(y) (the attention's saved dropped probabilities) or y itself. With
// dropout after the softmax that is the softmax backward of dropout_bwd(dy),
// without drawing the mask again: y dropout_bwd(dy) = yd dy element by element.
// One row function for both float types: f32 rows use the vectorised exponential
// of vmath.h, f64 rows use libm.
#include <cmath>
#include <limits>

#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

SPT_INLINE_INTO_CLONES float row_exp(float x) { return vm::fast_exp(x); }
SPT_INLINE_INTO_CLONES double row_exp(double x) { return std::exp(x); }

// One row, any float type: keys j < last that the mask allows are visible. The
// f32 instances below are compiled per ISA (SIMD clones); f64 calls these directly.
template <class T>
SPT_INLINE_INTO_CLONES void softmax_row(T* y, const T* x, const int32_t* mrow, int64_t last,
                                        int64_t tk, T s) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  // Separate loops with and without a mask: `!mrow || mrow[j]` keeps the
  // compiler from vectorising (it may not load mrow[j] when mrow is null).
  T mx = kNegInf;
  if (mrow) {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < last; ++j) {
      const T v = mrow[j] ? s * x[j] : kNegInf;
      mx = v > mx ? v : mx;
    }
  } else {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < last; ++j) {
      const T v = s * x[j];
      mx = v > mx ? v : mx;
    }
  }
  // Nothing visible. (The private copies of an OpenMP max reduction start at the
  // type's least value: -inf with GCC, the lowest finite value with clang; so
  // "no key seen" is any max at or below the lowest finite value.)
  if (!(mx > std::numeric_limits<T>::lowest())) {
    for (int64_t j = 0; j < tk; ++j) y[j] = T(0);
    return;
  }
  T sum = 0;
  if (mrow) {
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < last; ++j) {
      const T e = mrow[j] ? row_exp(s * x[j] - mx) : T(0);
      y[j] = e;
      sum += e;
    }
  } else {
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < last; ++j) {
      const T e = row_exp(s * x[j] - mx);
      y[j] = e;
      sum += e;
    }
  }
  for (int64_t j = last; j < tk; ++j) y[j] = T(0);
  const T inv = T(1) / sum;
#pragma omp simd
  for (int64_t j = 0; j < last; ++j) y[j] *= inv;
}

template <class T>
SPT_INLINE_INTO_CLONES void softmax_bwd_row(T* dx, const T* dy, const T* y, const T* yd,
                                            int64_t tk, T s) {
  T dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < tk; ++j) dot += yd[j] * dy[j];
#pragma omp simd
  for (int64_t j = 0; j < tk; ++j) dx[j] = s * (yd[j] * dy[j] - y[j] * dot);
}

SPT_SIMD_CLONES void softmax_row_f32(float* y, const float* x, const int32_t* mrow, int64_t last,
                                     int64_t tk, float s) {
  softmax_row(y, x, mrow, last, tk, s);
}

SPT_SIMD_CLONES void softmax_bwd_row_f32(float* dx, const float* dy, const float* y,
                                         const float* yd, int64_t tk, float s) {
  softmax_bwd_row(dx, dy, y, yd, tk, s);
}

}  // namespace

void CpuBackend::softmax_fwd(const SoftmaxParams& p, Tensor& y, const Tensor& x,
                             const Tensor& key_mask) {
  const int32_t* mask = key_mask.defined() ? key_mask.data<int32_t>() : nullptr;
  dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* xs = x.data<T>();
    T* ys = y.data<T>();
    const int64_t rows = p.batch * p.heads * p.tq, Tk = p.tk;
#pragma omp parallel for schedule(static) if (rows * Tk > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / (p.heads * p.tq), i = r % p.tq;
      const int32_t* mrow = mask ? mask + b * Tk : nullptr;
      const int64_t last = p.causal ? std::min(Tk, i + (Tk - p.tq) + 1) : Tk;  // visible j < last
      if constexpr (std::is_same_v<T, float>)
        softmax_row_f32(ys + r * Tk, xs + r * Tk, mrow, last, Tk, p.scale);
      else
        softmax_row(ys + r * Tk, xs + r * Tk, mrow, last, Tk, static_cast<T>(p.scale));
    }
  });
}

void CpuBackend::softmax_bwd(const SoftmaxParams& p, Tensor& dx, const Tensor& dy, const Tensor& y,
                             const Tensor& y_dropped) {
  dispatch_float(y.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T *gs = dy.data<T>(), *ys = y.data<T>();
    const T* yds = y_dropped.defined() ? y_dropped.data<T>() : ys;
    T* ds = dx.data<T>();
    const int64_t rows = p.batch * p.heads * p.tq, Tk = p.tk;
#pragma omp parallel for schedule(static) if (rows * Tk > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      if constexpr (std::is_same_v<T, float>)
        softmax_bwd_row_f32(ds + r * Tk, gs + r * Tk, ys + r * Tk, yds + r * Tk, Tk, p.scale);
      else
        softmax_bwd_row(ds + r * Tk, gs + r * Tk, ys + r * Tk, yds + r * Tk, Tk,
                        static_cast<T>(p.scale));
    }
  });
}

}  // namespace spt::cpu
