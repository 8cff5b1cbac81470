// CPU RMS norm over the last dim of x (N, C), as transformers' LlamaRMSNorm:
//   rstd = 1 / sqrt(sum(x^2) / C + eps),  y = w * (x * rstd)
// Backward (xhat = x * rstd, g = dy * w):
//   dx = rstd * (g - xhat * mean(g * xhat))        (written)
//   dw += sum_n dy * xhat                          (accumulated)
// Statistics in double for every input dtype; f32 rows run in vectorised
// (SIMD-clone) row functions, like layernorm.cpp.
#include <cmath>

#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

template <class T>
SPT_INLINE_INTO_CLONES void rms_fwd_row(T* y, T* rstd, const T* x, const T* w, int64_t C, double eps) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < C; ++c) s += static_cast<double>(x[c]) * x[c];
  const double r = 1.0 / std::sqrt(s / static_cast<double>(C) + eps);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) y[c] = w[c] * static_cast<T>(x[c] * r);
  *rstd = static_cast<T>(r);
}

template <class T>
SPT_INLINE_INTO_CLONES void rms_bwd_row(T* dx, const T* dy, const T* x, const T* w, double r, int64_t C) {
  double sum_gx = 0;
#pragma omp simd reduction(+ : sum_gx)
  for (int64_t c = 0; c < C; ++c) sum_gx += static_cast<double>(dy[c]) * w[c] * x[c] * r;
  const double mgx = sum_gx / static_cast<double>(C);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) dx[c] = static_cast<T>(r * (static_cast<double>(dy[c]) * w[c] - x[c] * r * mgx));
}

SPT_SIMD_CLONES void rms_fwd_row_f32(float* y, float* rstd, const float* x, const float* w, int64_t C, double eps) {
  rms_fwd_row(y, rstd, x, w, C, eps);
}

SPT_SIMD_CLONES void rms_bwd_row_f32(float* dx, const float* dy, const float* x, const float* w, double r,
                                     int64_t C) {
  rms_bwd_row(dx, dy, x, w, r, C);
}

}  // namespace

void CpuBackend::rmsnorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w) {
  dispatch_float(x.dtype(), "rmsnorm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = p.rows, C = p.cols;
    const T *xs = x.data<T>(), *ws = w.data<T>();
    T *ys = y.data<T>(), *rs = rstd.data<T>();
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t n = 0; n < N; ++n) {
      if constexpr (std::is_same_v<T, float>)
        rms_fwd_row_f32(ys + n * C, rs + n, xs + n * C, ws, C, p.eps);
      else
        rms_fwd_row(ys + n * C, rs + n, xs + n * C, ws, C, p.eps);
    }
  });
}

void CpuBackend::rmsnorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x,
                             const Tensor& w, const Tensor& rstd) {
  dispatch_float(x.dtype(), "rmsnorm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = p.rows, C = p.cols;
    const T *xs = x.data<T>(), *ws = w.data<T>(), *gs = dy.data<T>(), *rs = rstd.data<T>();
    T *dxs = dx.data<T>(), *dws = dw.data<T>();
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t n = 0; n < N; ++n) {
      if constexpr (std::is_same_v<T, float>)
        rms_bwd_row_f32(dxs + n * C, gs + n * C, xs + n * C, ws, rs[n], C);
      else
        rms_bwd_row(dxs + n * C, gs + n * C, xs + n * C, ws, static_cast<double>(rs[n]), C);
    }
    // dw: threads own column blocks, rows summed in order (deterministic).
    constexpr int64_t kCols = 64;
    const int64_t blocks = (C + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t c0 = blk * kCols, c1 = std::min(C, c0 + kCols);
      double aw[kCols] = {};
      for (int64_t n = 0; n < N; ++n) {
        const double r = rs[n];
        for (int64_t c = c0; c < c1; ++c) aw[c - c0] += static_cast<double>(gs[n * C + c]) * xs[n * C + c] * r;
      }
      for (int64_t c = c0; c < c1; ++c) dws[c] += static_cast<T>(aw[c - c0]);
    }
  });
}

}  // namespace spt::cpu
