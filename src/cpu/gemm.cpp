// CPU GEMM through OpenBLAS: C = alpha * op(A) op(B) + beta * C, row-major,
// batched in two levels (see GemmParams).
//
// Large single GEMMs use OpenBLAS's own threads. Many small batch items (the
// per-head products of attention) run one item per OpenMP thread instead;
// OpenBLAS built for OpenMP then runs each call single-threaded, so the two
// never oversubscribe the cores.
#include <cblas.h>
#include <omp.h>

#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

namespace {

void gemm_one(const GemmParams& p, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans,
              p.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(p.m), static_cast<int>(p.n),
              static_cast<int>(p.k), p.alpha, a, static_cast<int>(p.lda), b,
              static_cast<int>(p.ldb), p.beta, c, static_cast<int>(p.ldc));
}

void gemm_one(const GemmParams& p, const double* a, const double* b, double* c) {
  cblas_dgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans,
              p.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(p.m), static_cast<int>(p.n),
              static_cast<int>(p.k), p.alpha, a, static_cast<int>(p.lda), b,
              static_cast<int>(p.ldb), p.beta, c, static_cast<int>(p.ldc));
}

template <class T>
void gemm_batched(const GemmParams& p, T* c, const T* a, const T* b) {
  const int64_t count = p.batch_outer * p.batch_inner;
  const double flops_per_item = 2.0 * static_cast<double>(p.m) * p.n * p.k;
  // Below ~4 MFLOP an OpenBLAS call gains little from its own threads.
  const bool per_thread = count >= 2 && flops_per_item < 4e6 && omp_get_max_threads() > 1;
  auto item = [&](int64_t i) {
    const int64_t o = i / p.batch_inner, n = i % p.batch_inner;
    gemm_one(p, a + o * p.stride_a_outer + n * p.stride_a_inner,
             b + o * p.stride_b_outer + n * p.stride_b_inner,
             c + o * p.stride_c_outer + n * p.stride_c_inner);
  };
  if (per_thread) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) item(i);
  } else {
    // Not inside an (inactive) OpenMP region: OpenBLAS's own parallel region would
    // then be nested, and libgomp starts fresh threads for every nested team
    // (this made every large GEMM of a training step 2-3x slower).
    for (int64_t i = 0; i < count; ++i) item(i);
  }
}

}  // namespace

void CpuBackend::gemm(const GemmParams& p, Tensor& c, const Tensor& a, const Tensor& b) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {  // BLAS leaves C untouched for k == 0 only if beta == 1
    if (p.beta == 0.f) fill(c, 0.0);
    return;
  }
  dispatch_float(c.dtype(), "gemm", [&](auto tag) {
    using T = decltype(tag);
    gemm_batched<T>(p, c.data<T>(), a.data<T>(), b.data<T>());
  });
}

}  // namespace spt::cpu
