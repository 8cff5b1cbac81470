// CPU masked softmax over the last dim of scores (B, H, Tq, Tk):
//   y_ij = exp(s x_ij - max_k s x_ik) / sum_k exp(...)  over visible keys j,
// key j visible to query i iff key_mask[b, j] != 0 (if given) and, when causal,
// j <= i + (Tk - Tq). Invisible keys get 0; a row with no visible key is all 0.
// Backward: dx_ij = s * (yd_ij dy_ij - y_ij sum_k yd_ik dy_ik)   (written), where
// yd = dropout(y) (the attention's saved dropped probabilities) or y itself. With
// dropout after the softmax that is the softmax backward of dropout_bwd(dy),
// without drawing the mask again: y dropout_bwd(dy) = yd dy element by element.
// f32 rows use the vectorised exponential of vmath.h; f64 rows use libm.
#include <cmath>
#include <limits>

#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

// One f32 row: keys j < last that the mask allows are visible.
SPT_SIMD_CLONES void softmax_row_f32(float* y, const float* x, const int32_t* mrow, int64_t last,
                                     int64_t tk, float s) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  // Separate loops with and without a mask: `!mrow || mrow[j]` keeps the
  // compiler from vectorising (it may not load mrow[j] when mrow is null).
  float mx = kNegInf;
  if (mrow) {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < last; ++j) {
      const float v = mrow[j] ? s * x[j] : kNegInf;
      mx = v > mx ? v : mx;
    }
  } else {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < last; ++j) {
      const float v = s * x[j];
      mx = v > mx ? v : mx;
    }
  }
  if (mx == kNegInf) {  // nothing visible
    for (int64_t j = 0; j < tk; ++j) y[j] = 0.f;
    return;
  }
  float sum = 0.f;
  if (mrow) {
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < last; ++j) {
      const float e = mrow[j] ? vm::fast_exp(s * x[j] - mx) : 0.f;
      y[j] = e;
      sum += e;
    }
  } else {
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < last; ++j) {
      const float e = vm::fast_exp(s * x[j] - mx);
      y[j] = e;
      sum += e;
    }
  }
  for (int64_t j = last; j < tk; ++j) y[j] = 0.f;
  const float inv = 1.f / sum;
#pragma omp simd
  for (int64_t j = 0; j < last; ++j) y[j] *= inv;
}

SPT_SIMD_CLONES void softmax_bwd_row_f32(float* dx, const float* dy, const float* y,
                                         const float* yd, int64_t tk, float s) {
  float dot = 0.f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < tk; ++j) dot += yd[j] * dy[j];
#pragma omp simd
  for (int64_t j = 0; j < tk; ++j) dx[j] = s * (yd[j] * dy[j] - y[j] * dot);
}

void softmax_row_f64(double* yr, const double* xr, const int32_t* mrow, int64_t last, int64_t tk,
                     double s) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < last; ++j)
    if (!mrow || mrow[j]) mx = std::max(mx, s * xr[j]);
  if (mx == -std::numeric_limits<double>::infinity()) {
    for (int64_t j = 0; j < tk; ++j) yr[j] = 0;
    return;
  }
  double sum = 0;
  for (int64_t j = 0; j < tk; ++j) {
    const bool vis = j < last && (!mrow || mrow[j]);
    yr[j] = vis ? std::exp(s * xr[j] - mx) : 0.0;
    sum += yr[j];
  }
  const double inv = 1.0 / sum;
  for (int64_t j = 0; j < tk; ++j) yr[j] *= inv;
}

void softmax_bwd_row_f64(double* dx, const double* dy, const double* y, const double* yd,
                         int64_t tk, double s) {
  double dot = 0;
  for (int64_t j = 0; j < tk; ++j) dot += yd[j] * dy[j];
  for (int64_t j = 0; j < tk; ++j) dx[j] = s * (yd[j] * dy[j] - y[j] * dot);
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
        softmax_row_f64(ys + r * Tk, xs + r * Tk, mrow, last, Tk, p.scale);
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
        softmax_bwd_row_f64(ds + r * Tk, gs + r * Tk, ys + r * Tk, yds + r * Tk, Tk, p.scale);
    }
  });
}

}  // namespace spt::cpu
