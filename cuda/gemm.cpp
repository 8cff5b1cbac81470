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
#include <vector>

#include "backend_impl.h"
#include "cuda_check.h"
#include "launch.h"
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

namespace spt::cuda {

// Grouped GEMM (GroupedGemm): one cublasGemmGroupedBatchedEx call for all the
// non-empty groups, each its own problem size (MegaBlocks' variable-sized
// blocks); the per-problem operand pointers go to the device once per call.
void CudaBackend::gemm_grouped(const GemmParams& p, const GroupedGemm& g, Tensor& c, const Tensor& a,
                               const Tensor& b) {
  require_f32("gemm_grouped", c, a, b);
  std::vector<int> m, n, k, lda, ldb, ldc;
  std::vector<cublasOperation_t> op_a, op_b;
  std::vector<float> alpha, beta;
  std::vector<const void*> ptr_a, ptr_b;
  std::vector<void*> ptr_c;
  const float* base_a = a.data<float>();
  const float* base_b = b.data<float>();
  float* base_c = c.data<float>();
  for (size_t i = 0; i + 1 < g.offsets.size(); ++i) {
    const int64_t r0 = g.offsets[i], rows = g.offsets[i + 1] - r0;
    const int64_t gi = static_cast<int64_t>(i);
    if (rows == 0 || p.n == 0 || (!g.group_k && p.k == 0) || (g.group_k && p.m == 0)) continue;
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T (see gemm).
    m.push_back(to_int("n", p.n));
    n.push_back(to_int("m", g.group_k ? p.m : rows));
    k.push_back(to_int("k", g.group_k ? rows : p.k));
    op_a.push_back(p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N);
    op_b.push_back(p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N);
    lda.push_back(to_int("ldb", p.ldb));
    ldb.push_back(to_int("lda", p.lda));
    ldc.push_back(to_int("ldc", p.ldc));
    alpha.push_back(p.alpha);
    beta.push_back(p.beta);
    ptr_b.push_back(base_a + r0 * p.lda);
    if (g.group_k) {
      ptr_a.push_back(base_b + r0 * p.ldb);
      ptr_c.push_back(base_c + gi * p.stride_c_outer);
    } else {
      ptr_a.push_back(base_b + gi * p.stride_b_outer);
      ptr_c.push_back(base_c + r0 * p.ldc);
    }
  }
  if (m.empty()) return;
  const int count = static_cast<int>(m.size());
  const DeviceGuard guard(index_);
  ScratchBuffer dev(allocator_, 3 * m.size() * sizeof(void*));
  auto** dev_ptrs = dev.as<void*>();
  std::vector<const void*> host_ptrs(ptr_a);
  host_ptrs.insert(host_ptrs.end(), ptr_b.begin(), ptr_b.end());
  host_ptrs.insert(host_ptrs.end(), ptr_c.begin(), ptr_c.end());
  copy_from_host(dev_ptrs, host_ptrs.data(), host_ptrs.size() * sizeof(void*));
  const std::vector<int> ones(m.size(), 1);
  SPT_CUBLAS_CHECK(cublasGemmGroupedBatchedEx(
      libraries_->cublas.get(), op_a.data(), op_b.data(), m.data(), n.data(), k.data(), alpha.data(),
      const_cast<const void* const*>(dev_ptrs), CUDA_R_32F, lda.data(),
      const_cast<const void* const*>(dev_ptrs + m.size()), CUDA_R_32F, ldb.data(), beta.data(),
      dev_ptrs + 2 * m.size(), CUDA_R_32F, ldc.data(), count, ones.data(), CUBLAS_COMPUTE_32F));
}

}  // namespace spt::cuda
