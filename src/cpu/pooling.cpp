// CPU mean pooling (include/spt/ops/pooling.h):
//   n_b = max(1, #valid tokens of row b), y[b] = sum over valid t of x[b, t] / n_b,
//   dx[b, t] = dy[b] / n_b for valid t, 0 for padding (written).
// Rows b are independent; each sums its tokens in order t = 0, 1, ..., so the
// result does not depend on the thread count.
#include <algorithm>

#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

namespace {

int64_t valid_tokens(const Tensor& mask, int64_t b, int64_t T) {
  if (!mask.defined()) return T;
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) n += index_at(mask, b * T + t) != 0;
  return n;
}

bool is_valid(const Tensor& mask, int64_t b, int64_t T, int64_t t) {
  return !mask.defined() || index_at(mask, b * T + t) != 0;
}

}  // namespace

void CpuBackend::mean_pool_fwd(Tensor& y, const Tensor& x, const Tensor& mask) {
  dispatch_float(x.dtype(), "mean_pool", [&](auto tag) {
    using T = decltype(tag);
    const int64_t B = x.dim(0), S = x.dim(1), C = x.dim(2);
    const T* px = x.data<T>();
    T* py = y.data<T>();
#pragma omp parallel for schedule(static) if (B * S * C > 65536)
    for (int64_t b = 0; b < B; ++b) {
      T* out = py + b * C;
      std::fill(out, out + C, T(0));
      int64_t n = 0;
      for (int64_t t = 0; t < S; ++t) {
        if (!is_valid(mask, b, S, t)) continue;
        ++n;
        const T* row = px + (b * S + t) * C;
        for (int64_t c = 0; c < C; ++c) out[c] += row[c];
      }
      const T inv = T(1) / static_cast<T>(std::max<int64_t>(1, n));
      for (int64_t c = 0; c < C; ++c) out[c] *= inv;
    }
  });
}

void CpuBackend::mean_pool_bwd(Tensor& dx, const Tensor& dy, const Tensor& mask) {
  dispatch_float(dy.dtype(), "mean_pool", [&](auto tag) {
    using T = decltype(tag);
    const int64_t B = dx.dim(0), S = dx.dim(1), C = dx.dim(2);
    const T* g = dy.data<T>();
    T* d = dx.data<T>();
#pragma omp parallel for schedule(static) if (B * S * C > 65536)
    for (int64_t b = 0; b < B; ++b) {
      const T inv = T(1) / static_cast<T>(std::max<int64_t>(1, valid_tokens(mask, b, S)));
      for (int64_t t = 0; t < S; ++t) {
        T* row = d + (b * S + t) * C;
        if (!is_valid(mask, b, S, t)) {
          std::fill(row, row + C, T(0));
          continue;
        }
        for (int64_t c = 0; c < C; ++c) row[c] = g[b * C + c] * inv;
      }
    }
  });
}

}  // namespace spt::cpu
