// CPU GEMM through OpenBLAS: C = alpha * op(A) op(B) + beta * C, row-major,
// batched in two levels (see GemmParams), and grouped (GroupedGemm).
//
// Large single GEMMs use OpenBLAS's own threads. Many small batch items (the
// per-head products of attention) run one item per OpenMP thread instead;
// OpenBLAS built for OpenMP then runs each call single-threaded, so the two
// never oversubscribe the cores.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

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

void CpuBackend::gemm_grouped(const GemmParams& p, const GroupedGemm& g, Tensor& c, const Tensor& a,
                              const Tensor& b) {
  // Fixed tasks, each one single-threaded OpenBLAS call: up to `task_rows` rows
  // of C per task (m-grouped: rows of the group; k-grouped: rows of the group's
  // m x n product, every task summing its group's whole k). The split depends on
  // the shapes alone, never on the thread count, and no sum is ever split, so
  // results are bit-identical at any number of threads (OpenBLAS's own threads
  // are not). Every task packs its B block again: 512 rows keep that under a few
  // percent (128 cost 12% more time at d = 768, F = 3072), and smaller tasks,
  // down to 128 rows, only where that is needed for 32 tasks to share out.
  int64_t total_rows = 0;
  for (size_t i = 0; i + 1 < g.offsets.size(); ++i)
    if (g.offsets[i + 1] > g.offsets[i]) total_rows += g.group_k ? p.m : g.offsets[i + 1] - g.offsets[i];
  const int64_t task_rows = std::clamp<int64_t>((total_rows / 32 + 63) / 64 * 64, 128, 512);
  struct Task {
    int64_t group, r0, rows;  // group; first row (of the group's rows or of C_g) and count
  };
  std::vector<Task> tasks;
  for (size_t i = 0; i + 1 < g.offsets.size(); ++i) {
    const int64_t size = g.offsets[i + 1] - g.offsets[i];
    if (size == 0) continue;
    const int64_t rows = g.group_k ? p.m : size;
    for (int64_t r = 0; r < rows; r += task_rows)
      tasks.push_back({static_cast<int64_t>(i), r, std::min(task_rows, rows - r)});
  }
  if (tasks.empty() || p.n == 0) return;
  dispatch_float(c.dtype(), "gemm_grouped", [&](auto tag) {
    using T = decltype(tag);
    const T *base_a = a.data<T>(), *base_b = b.data<T>();
    T* base_c = c.data<T>();
    const int64_t count = static_cast<int64_t>(tasks.size());
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
    for (int64_t t = 0; t < count; ++t) {
      const Task& task = tasks[static_cast<size_t>(t)];
      const int64_t start = g.offsets[static_cast<size_t>(task.group)];
      const int64_t size = g.offsets[static_cast<size_t>(task.group) + 1] - start;
      GemmParams q = p;
      q.m = task.rows;
      if (g.group_k) {  // A^T (k, m) and B (k, n) from row `start`; C_g rows r0..
        q.k = size;
        gemm_one(q, base_a + start * p.lda + task.r0, base_b + start * p.ldb,
                 base_c + task.group * p.stride_c_outer + task.r0 * p.ldc);
      } else if (q.k > 0) {  // A and C from row start + r0, B_g
        gemm_one(q, base_a + (start + task.r0) * p.lda, base_b + task.group * p.stride_b_outer,
                 base_c + (start + task.r0) * p.ldc);
      } else if (p.beta == 0.f) {
        for (int64_t r = 0; r < q.m; ++r)
          for (int64_t j = 0; j < p.n; ++j) base_c[(start + task.r0 + r) * p.ldc + j] = T(0);
      }
    }
  });
}

// Mixed precision (bf16 or f16 a and b, f32 c; runtime.precision): the operands
// are widened to f32 (exactly: every bf16 or f16 value is an f32 value) and
// multiplied by sgemm, which is the bf16 / f16 product with f32 accumulation
// that cuBLAS computes, up to the order of the sums. It is a reference, not a
// fast path: on the CPUs seen so far (AVX512-BF16, no AMX) bf16 GEMMs are
// slower than f32 ones (docs/PERF.md, "bf16 on the CPU").
static Tensor widened(const Tensor& t) {
  SPT_CHECK(t.is_contiguous(), "[gemm] a bf16 / f16 operand must be contiguous, got ", t.str());
  Tensor w = Tensor::empty(t.shape(), DType::f32, t.device());
  const int64_t n = t.numel();
  const uint16_t* s = static_cast<const uint16_t*>(t.data_ptr());
  float* d = w.data<float>();
  if (t.dtype() == DType::bf16) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
  } else {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) d[i] = f16_to_f32(s[i]);
  }
  return w;
}

void CpuBackend::gemm(const GemmParams& p, Tensor& c, const Tensor& a, const Tensor& b) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {  // BLAS leaves C untouched for k == 0 only if beta == 1
    if (p.beta == 0.f) fill(c, 0.0);
    return;
  }
  const bool low_a = a.dtype() == DType::bf16 || a.dtype() == DType::f16;
  const bool low_b = b.dtype() == DType::bf16 || b.dtype() == DType::f16;
  if (low_a || low_b) {
    SPT_CHECK(a.dtype() == b.dtype() && c.dtype() == DType::f32, "[gemm] dtypes a = ", dtype_name(a.dtype()),
              ", b = ", dtype_name(b.dtype()), ", c = ", dtype_name(c.dtype()),
              " not supported on cpu (f32 or f64 throughout; bf16 x bf16 or f16 x f16 -> f32)");
    const Tensor wa = widened(a), wb = widened(b);
    gemm_batched<float>(p, c.data<float>(), wa.data<float>(), wb.data<float>());
    return;
  }
  dispatch_float(c.dtype(), "gemm", [&](auto tag) {
    using T = decltype(tag);
    gemm_batched<T>(p, c.data<T>(), a.data<T>(), b.data<T>());
  });
}

}  // namespace spt::cpu
