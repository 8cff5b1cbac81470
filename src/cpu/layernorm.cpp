// CPU layer norm over the last dim of x (N, C), as torch.nn.LayerNorm:
//   mean = sum(x) / C,  var = sum((x - mean)^2) / C (biased),  rstd = 1 / sqrt(var + eps)
//   y = (x - mean) * rstd * w + b
// Backward (xhat = (x - mean) * rstd, g = dy * w):
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))          (written)
//   dw += sum_n dy * xhat,  db += sum_n dy                      (accumulated)
// Statistics are accumulated in double for every input dtype; f32 rows run in
// vectorised (SIMD-clone) row functions with lane-wise double sums.
#include <cmath>
#include <vector>

#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

// One row, any float type (statistics in double). The f32 instances below are
// compiled per ISA (SIMD clones); f64 (gradient checks) calls these directly.
template <class T>
SPT_INLINE_INTO_CLONES void ln_fwd_row(T* y, T* mean, T* rstd, const T* x, const T* w,
                                       const T* b, int64_t C, double eps) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < C; ++c) s += x[c];
  const double m = s / static_cast<double>(C);
  double v = 0;
#pragma omp simd reduction(+ : v)
  for (int64_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
  const double r = 1.0 / std::sqrt(v / static_cast<double>(C) + eps);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) y[c] = static_cast<T>((x[c] - m) * r) * w[c] + b[c];
  *mean = static_cast<T>(m);
  *rstd = static_cast<T>(r);
}

template <class T>
SPT_INLINE_INTO_CLONES void ln_bwd_row(T* dx, const T* dy, const T* x, const T* w, double m,
                                       double r, int64_t C) {
  double sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
  for (int64_t c = 0; c < C; ++c) {
    const double g = static_cast<double>(dy[c]) * w[c];
    sum_g += g;
    sum_gx += g * (x[c] - m) * r;
  }
  const double mg = sum_g / static_cast<double>(C), mgx = sum_gx / static_cast<double>(C);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    const double xhat = (x[c] - m) * r;
    dx[c] = static_cast<T>(r * (static_cast<double>(dy[c]) * w[c] - mg - xhat * mgx));
  }
}

SPT_SIMD_CLONES void ln_fwd_row_f32(float* y, float* mean, float* rstd, const float* x,
                                    const float* w, const float* b, int64_t C, double eps) {
  ln_fwd_row(y, mean, rstd, x, w, b, C, eps);
}

SPT_SIMD_CLONES void ln_bwd_row_f32(float* dx, const float* dy, const float* x, const float* w,
                                    double m, double r, int64_t C) {
  ln_bwd_row(dx, dy, x, w, m, r, C);
}

}  // namespace

void CpuBackend::layernorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& mean, Tensor& rstd,
                               const Tensor& x, const Tensor& w, const Tensor& b) {
  dispatch_float(x.dtype(), "layernorm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = p.rows, C = p.cols;
    const T *xs = x.data<T>(), *ws = w.data<T>(), *bs = b.data<T>();
    T *ys = y.data<T>(), *ms = mean.data<T>(), *rs = rstd.data<T>();
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t n = 0; n < N; ++n) {
      if constexpr (std::is_same_v<T, float>)
        ln_fwd_row_f32(ys + n * C, ms + n, rs + n, xs + n * C, ws, bs, C, p.eps);
      else
        ln_fwd_row(ys + n * C, ms + n, rs + n, xs + n * C, ws, bs, C, p.eps);
    }
  });
}

void CpuBackend::layernorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, Tensor& db,
                               const Tensor& dy, const Tensor& x, const Tensor& w,
                               const Tensor& mean, const Tensor& rstd) {
  dispatch_float(x.dtype(), "layernorm", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = p.rows, C = p.cols;
    const T *xs = x.data<T>(), *ws = w.data<T>(), *gs = dy.data<T>();
    const T *ms = mean.data<T>(), *rs = rstd.data<T>();
    T *dxs = dx.data<T>(), *dws = dw.data<T>(), *dbs = db.data<T>();

#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t n = 0; n < N; ++n) {
      if constexpr (std::is_same_v<T, float>)
        ln_bwd_row_f32(dxs + n * C, gs + n * C, xs + n * C, ws, ms[n], rs[n], C);
      else
        ln_bwd_row(dxs + n * C, gs + n * C, xs + n * C, ws, static_cast<double>(ms[n]),
                   static_cast<double>(rs[n]), C);
    }

    // dw, db: threads own column blocks, rows summed in order (deterministic).
    constexpr int64_t kCols = 64;
    const int64_t blocks = (C + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t c0 = blk * kCols, c1 = std::min(C, c0 + kCols);
      double aw[kCols] = {}, ab[kCols] = {};
      for (int64_t n = 0; n < N; ++n) {
        const double m = ms[n], r = rs[n];
        for (int64_t c = c0; c < c1; ++c) {
          const double g = gs[n * C + c];
          aw[c - c0] += g * (xs[n * C + c] - m) * r;
          ab[c - c0] += g;
        }
      }
      for (int64_t c = c0; c < c1; ++c) {
        dws[c] += static_cast<T>(aw[c - c0]);
        dbs[c] += static_cast<T>(ab[c - c0]);
      }
    }
  });
}

}  // namespace spt::cpu
