// GEMM through cuBLAS: C = alpha * op(A) op(B) + beta * C, row-major, batched in
// two levels (see GemmParams), as src/cpu/gemm.cpp.
//
// cuBLAS is column-major. A row-major matrix with row stride ld is, read
// column-major with leading dimension ld, its own transpose; so row-major
// C (m x n) is column-major C^T (n x m), and we ask cuBLAS for
//   C^T = op(B)^T op(A)^T
// with the operands swapped (B first), sizes (n, m, k) and every op flag and
// leading dimension unchanged. The inner batch level maps onto
// cublasGemmStridedBatchedEx; the outer level is a loop of such calls.
//
// Dtypes: f32 x f32 -> f32, and bf16 x bf16 or f16 x f16 -> the same type or
// f32. Accumulation is always fp32 (CUBLAS_COMPUTE_32F); the handle is in the
// default math mode, so f32 GEMMs do not use TF32 and match the CPU to rounding.
#include <climits>

#include "backend_impl.h"
#include "cuda_check.h"
#include "library_handles.h"

namespace spt::cuda {

namespace {

int to_int(const char* what, int64_t v) {
  SPT_CHECK(v >= 0 && v <= INT_MAX, "[gemm] ", what, " = ", v,
            " is outside the range cuBLAS accepts (0 .. 2^31 - 1)");
  return static_cast<int>(v);
}

cudaDataType_t cuda_type(DType dt) {
  switch (dt) {
    case DType::bf16: return CUDA_R_16BF;
    case DType::f16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

bool supported(DType a, DType b, DType c) {
  if (a != b) return false;
  if (a == DType::f32) return c == DType::f32;
  if (a == DType::bf16 || a == DType::f16) return c == a || c == DType::f32;
  return false;
}

}  // namespace

void CudaBackend::gemm(const GemmParams& p, Tensor& c, const Tensor& a, const Tensor& b) {
  SPT_CHECK(supported(a.dtype(), b.dtype(), c.dtype()), "[gemm] dtypes a = ", dtype_name(a.dtype()),
            ", b = ", dtype_name(b.dtype()), ", c = ", dtype_name(c.dtype()),
            " not supported on cuda (f32 x f32 -> f32; bf16 or f16 inputs -> same dtype or f32)");
  if (p.m == 0 || p.n == 0 || p.batch_outer == 0 || p.batch_inner == 0) return;
  if (p.k == 0) {  // as the CPU backend: C is zeroed for beta == 0, else left alone
    if (p.beta == 0.f) fill(c, 0.0);
    return;
  }
  const int m = to_int("m", p.m), n = to_int("n", p.n), k = to_int("k", p.k);
  const int lda = to_int("lda", p.lda), ldb = to_int("ldb", p.ldb), ldc = to_int("ldc", p.ldc);
  const int batch = to_int("batch_inner", p.batch_inner);
  const cublasOperation_t op_a = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType_t type_a = cuda_type(a.dtype()), type_b = cuda_type(b.dtype());
  const cudaDataType_t type_c = cuda_type(c.dtype());
  const int64_t size_a = static_cast<int64_t>(dtype_size(a.dtype()));
  const int64_t size_b = static_cast<int64_t>(dtype_size(b.dtype()));
  const int64_t size_c = static_cast<int64_t>(dtype_size(c.dtype()));
  const char* base_a = static_cast<const char*>(a.data_ptr());
  const char* base_b = static_cast<const char*>(b.data_ptr());
  char* base_c = static_cast<char*>(c.data_ptr());

  const DeviceGuard guard(index_);
  for (int64_t o = 0; o < p.batch_outer; ++o) {
    const void* a_o = base_a + o * p.stride_a_outer * size_a;
    const void* b_o = base_b + o * p.stride_b_outer * size_b;
    void* c_o = base_c + o * p.stride_c_outer * size_c;
    SPT_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        libraries_->cublas.get(), op_b, op_a, n, m, k, &p.alpha, b_o, type_b, ldb, p.stride_b_inner,
        a_o, type_a, lda, p.stride_a_inner, &p.beta, c_o, type_c, ldc, p.stride_c_inner, batch,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace spt::cuda
