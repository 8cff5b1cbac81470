// CPU cross-entropy over logits (N, V) with integer targets (N):
//   lse_i = log sum_j exp(logits_ij)              (max-subtracted)
//   loss_i = lse_i - logits_i[t_i],   0 where t_i == ignore_index
// Backward: dlogits_ij = scale * (exp(logits_ij - lse_i) - [j == t_i]), zero rows
// where ignored. `scale` carries dloss / normalizer.
// f32 rows use the vectorised exponential of vmath.h (block sums added in f64).
#include <cmath>

#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

SPT_SIMD_CLONES float logsumexp_f32(const float* row, int64_t v) {
  float mx = row[0];
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < v; ++j) mx = row[j] > mx ? row[j] : mx;
  // f32 partial sums over blocks of 256 (they vectorise), added up in f64.
  double s = 0;
  for (int64_t j0 = 0; j0 < v; j0 += 256) {
    const int64_t j1 = std::min<int64_t>(v, j0 + 256);
    float part = 0.f;
#pragma omp simd reduction(+ : part)
    for (int64_t j = j0; j < j1; ++j) part += vm::fast_exp(row[j] - mx);
    s += part;
  }
  return mx + static_cast<float>(std::log(s));
}

SPT_SIMD_CLONES void softmax_scaled_f32(float* d, const float* row, int64_t v, float lse, float s) {
#pragma omp simd
  for (int64_t j = 0; j < v; ++j) d[j] = s * vm::fast_exp(row[j] - lse);
}

}  // namespace

void CpuBackend::cross_entropy_fwd(const CrossEntropyParams& p, Tensor& losses, Tensor& lse,
                                   const Tensor& logits, const Tensor& targets) {
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = p.rows, V = p.classes;
    const T* xs = logits.data<T>();
    T *ls = losses.data<T>(), *lses = lse.data<T>();
#pragma omp parallel for schedule(static) if (N * V > 16384)
    for (int64_t i = 0; i < N; ++i) {
      const T* row = xs + i * V;
      T l;
      if constexpr (std::is_same_v<T, float>) {
        l = logsumexp_f32(row, V);
      } else {
        T mx = row[0];
        for (int64_t j = 1; j < V; ++j) mx = std::max(mx, row[j]);
        double s = 0;
        for (int64_t j = 0; j < V; ++j) s += std::exp(static_cast<double>(row[j] - mx));
        l = mx + static_cast<T>(std::log(s));
      }
      lses[i] = l;
      const int64_t t = index_at(targets, i);
      ls[i] = t == p.ignore_index ? T(0) : l - row[t];
    }
  });
}

void CpuBackend::cross_entropy_bwd(const CrossEntropyParams& p, Tensor& dlogits,
                                   const Tensor& logits, const Tensor& lse, const Tensor& targets,
                                   float scale) {
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = p.rows, V = p.classes;
    const T *xs = logits.data<T>(), *lses = lse.data<T>();
    T* ds = dlogits.data<T>();
    const T s = static_cast<T>(scale);
#pragma omp parallel for schedule(static) if (N * V > 16384)
    for (int64_t i = 0; i < N; ++i) {
      T* drow = ds + i * V;
      const int64_t t = index_at(targets, i);
      if (t == p.ignore_index) {
        for (int64_t j = 0; j < V; ++j) drow[j] = T(0);
        continue;
      }
      const T* row = xs + i * V;
      if constexpr (std::is_same_v<T, float>)
        softmax_scaled_f32(drow, row, V, lses[i], s);
      else
        for (int64_t j = 0; j < V; ++j) drow[j] = s * std::exp(row[j] - lses[i]);
      drow[t] -= s;
    }
  });
}

}  // namespace spt::cpu
