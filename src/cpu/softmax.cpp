// CPU masked softmax over the last dim of scores (B, H, Tq, Tk):
//   y_ij = exp(s x_ij - max_k s x_ik) / sum_k exp(...)  over visible keys j,
// key j visible to query i iff key_mask[b, j] != 0 (if given) and, when causal,
// j <= i + (Tk - Tq). Invisible keys get 0; a row with no visible key is all 0.
// Backward: dx_ij = s * y_ij * (dy_ij - sum_k y_ik dy_ik)   (written)
#include <cmath>
#include <limits>

#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

void CpuBackend::softmax_fwd(const SoftmaxParams& p, Tensor& y, const Tensor& x,
                             const Tensor& key_mask) {
  const int32_t* mask = key_mask.defined() ? key_mask.data<int32_t>() : nullptr;
  dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T* xs = x.data<T>();
    T* ys = y.data<T>();
    const int64_t rows = p.batch * p.heads * p.tq, Tk = p.tk;
    const T s = static_cast<T>(p.scale);
#pragma omp parallel for schedule(static) if (rows * Tk > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / (p.heads * p.tq), i = r % p.tq;
      const int32_t* mrow = mask ? mask + b * Tk : nullptr;
      const int64_t last = p.causal ? std::min(Tk, i + (Tk - p.tq) + 1) : Tk;  // visible j < last
      const T* xr = xs + r * Tk;
      T* yr = ys + r * Tk;
      T mx = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < last; ++j)
        if (!mrow || mrow[j]) mx = std::max(mx, s * xr[j]);
      if (mx == -std::numeric_limits<T>::infinity()) {  // nothing visible
        for (int64_t j = 0; j < Tk; ++j) yr[j] = T(0);
        continue;
      }
      T sum = 0;
      for (int64_t j = 0; j < Tk; ++j) {
        const bool vis = j < last && (!mrow || mrow[j]);
        yr[j] = vis ? std::exp(s * xr[j] - mx) : T(0);
        sum += yr[j];
      }
      const T inv = T(1) / sum;
      for (int64_t j = 0; j < Tk; ++j) yr[j] *= inv;
    }
  });
}

void CpuBackend::softmax_bwd(const SoftmaxParams& p, Tensor& dx, const Tensor& dy,
                             const Tensor& y) {
  dispatch_float(y.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const T *gs = dy.data<T>(), *ys = y.data<T>();
    T* ds = dx.data<T>();
    const int64_t rows = p.batch * p.heads * p.tq, Tk = p.tk;
    const T s = static_cast<T>(p.scale);
#pragma omp parallel for schedule(static) if (rows * Tk > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      const T *gr = gs + r * Tk, *yr = ys + r * Tk;
      T dot = 0;
      for (int64_t j = 0; j < Tk; ++j) dot += yr[j] * gr[j];
      T* dr = ds + r * Tk;
      for (int64_t j = 0; j < Tk; ++j) dr[j] = s * yr[j] * (gr[j] - dot);
    }
  });
}

}  // namespace spt::cpu
