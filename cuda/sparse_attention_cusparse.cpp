// The cuSPARSE path of sparse attention (SparseKernel::cusparse): the SPT
// prototype's formulation, kept as a second implementation to cross-check the
// fused kernels against and to benchmark. Per (b, h), with the pattern as a CSR
// matrix S (Tq x Tk, the row's L keys; csr::build):
//   forward   S = scale Q K^T on the pattern        cusparseSDDMM
//             P f = softmax rows, dropout factors   csr::softmax (lse kept)
//             out = (P f) V                         cusparseSpMM
//   backward  S again, P = exp(S - lse), P f        cusparseSDDMM, csr::probs
//             dV += (P f)^T dout                    cusparseSpMM (transposed)
//             dP = dout V^T on the pattern          cusparseSDDMM
//             dS = scale P (f dP - D_i)             csr::dscores
//             dQ = dS K,  dK += dS^T Q              cusparseSpMM
// Dense operands are row-major views into q, k, v (B, T, heads*D) with leading
// dimension heads*D; query head h uses key/value head h / (H / Hk) (dK, dV of a
// shared head accumulate over its query heads). The number of entries per slice
// is copied to the host (one synchronisation per call): this path is for checks
// and benchmarks, not speed.
#include <vector>

#include "backend_impl.h"
#include "cuda_check.h"
#include "library_handles.h"
#include "sparse_attention_csr.h"

namespace spt::cuda {

namespace {

// The pattern in CSR form on the device, plus nnz per slice on the host.
struct CsrPattern {
  csr::Dims d;
  ScratchBuffer offsets, nnz, cols;
  std::vector<int32_t> host_nnz;
  CsrPattern(CudaBackend& be, const SparseAttentionParams& p, const Tensor& idx)
      : d(csr::dims_of(p)),
        offsets(be.allocator(), sizeof(int32_t) * static_cast<size_t>(d.slices() * (d.tq + 1))),
        nnz(be.allocator(), sizeof(int32_t) * static_cast<size_t>(d.slices())),
        cols(be.allocator(), sizeof(int32_t) * static_cast<size_t>(d.rows() * d.slots)),
        host_nnz(static_cast<size_t>(d.slices())) {
    csr::build(be.stream(), offsets.as<int32_t>(), nnz.as<int32_t>(), cols.as<int32_t>(), idx, d);
    SPT_CUDA_CHECK(cudaMemcpyAsync(host_nnz.data(), nnz.as<int32_t>(), sizeof(int32_t) * host_nnz.size(),
                                   cudaMemcpyDeviceToHost, be.stream()));
    SPT_CUDA_CHECK(cudaStreamSynchronize(be.stream()));
  }
  int64_t base(int64_t bh) const { return bh * d.tq * d.slots; }
};

// Owners of the generic-API descriptors.
struct Csr {
  cusparseSpMatDescr_t m = nullptr;
  Csr(const CsrPattern& pat, int64_t bh, float* values) {
    SPT_CUSPARSE_CHECK(cusparseCreateCsr(&m, pat.d.tq, pat.d.tk, pat.host_nnz[static_cast<size_t>(bh)],
                                         pat.offsets.as<int32_t>() + bh * (pat.d.tq + 1),
                                         pat.cols.as<int32_t>() + pat.base(bh), values + pat.base(bh),
                                         CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO,
                                         CUDA_R_32F));
  }
  ~Csr() { cusparseDestroySpMat(m); }
  Csr(const Csr&) = delete;
  Csr& operator=(const Csr&) = delete;
};

struct Dense {
  cusparseDnMatDescr_t m = nullptr;
  Dense(int64_t rows, int64_t cols, int64_t ld, const float* data) {
    SPT_CUSPARSE_CHECK(cusparseCreateDnMat(&m, rows, cols, ld, const_cast<float*>(data), CUDA_R_32F,
                                           CUSPARSE_ORDER_ROW));
  }
  ~Dense() { cusparseDestroyDnMat(m); }
  Dense(const Dense&) = delete;
  Dense& operator=(const Dense&) = delete;
};

// The row-major views of slice (b, h): rows of q-like tensors (B, Tq, H*D) and of
// k-like tensors (B, Tk, Hk*D), head g = h / (H / Hk).
struct Views {
  const csr::Dims& d;
  int64_t b, h, g;
  Views(const csr::Dims& dims, int64_t bh)
      : d(dims), b(bh / dims.heads), h(bh % dims.heads), g(h / (dims.heads / dims.kv_heads)) {}
  Dense q_like(const float* t) const { return Dense(d.tq, d.d, d.heads * d.d, t + b * d.tq * d.heads * d.d + h * d.d); }
  Dense k_like(const float* t) const {
    return Dense(d.tk, d.d, d.kv_heads * d.d, t + b * d.tk * d.kv_heads * d.d + g * d.d);
  }
};

// C = alpha op(A) op(B) on C's pattern (SDDMM), B transposed: A (Tq x D), B (Tk x D).
void sddmm(CudaBackend& be, float alpha, const Dense& a, const Dense& b, const Csr& c) {
  cusparseHandle_t h = be.libraries().cusparse.get();
  const float beta = 0.f;
  size_t bytes = 0;
  SPT_CUSPARSE_CHECK(cusparseSDDMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_TRANSPOSE,
                                              &alpha, a.m, b.m, &beta, c.m, CUDA_R_32F,
                                              CUSPARSE_SDDMM_ALG_DEFAULT, &bytes));
  ScratchBuffer buf(be.allocator(), bytes);
  SPT_CUSPARSE_CHECK(cusparseSDDMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_TRANSPOSE, &alpha, a.m,
                                   b.m, &beta, c.m, CUDA_R_32F, CUSPARSE_SDDMM_ALG_DEFAULT, buf.as<void>()));
}

// C = op(A) B + beta C with A sparse (transposed when `trans`).
void spmm(CudaBackend& be, bool trans, const Csr& a, const Dense& b, float beta, const Dense& c) {
  cusparseHandle_t h = be.libraries().cusparse.get();
  const float alpha = 1.f;
  const cusparseOperation_t op = trans ? CUSPARSE_OPERATION_TRANSPOSE : CUSPARSE_OPERATION_NON_TRANSPOSE;
  size_t bytes = 0;
  SPT_CUSPARSE_CHECK(cusparseSpMM_bufferSize(h, op, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, a.m, b.m, &beta, c.m,
                                             CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &bytes));
  ScratchBuffer buf(be.allocator(), bytes);
  SPT_CUSPARSE_CHECK(cusparseSpMM(h, op, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, a.m, b.m, &beta, c.m, CUDA_R_32F,
                                  CUSPARSE_SPMM_ALG_DEFAULT, buf.as<void>()));
}

}  // namespace

void sparse_attention_cusparse_fwd(CudaBackend& be, const SparseAttentionParams& p, Tensor& out, Tensor& lse,
                                   const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& idx) {
  const CsrPattern pat(be, p, idx);
  const csr::Dims& d = pat.d;
  ScratchBuffer vals(be.allocator(), sizeof(float) * static_cast<size_t>(d.rows() * d.slots));
  be.fill(out, 0.0);  // slices without entries stay 0
  for (int64_t bh = 0; bh < d.slices(); ++bh) {
    if (pat.host_nnz[static_cast<size_t>(bh)] == 0) continue;
    const Views w(d, bh);
    const Csr s(pat, bh, vals.as<float>());
    sddmm(be, d.scale, w.q_like(q.data<float>()), w.k_like(k.data<float>()), s);
  }
  csr::softmax(be.stream(), vals.as<float>(), lse.data<float>(), pat.offsets.as<int32_t>(), pat.cols.as<int32_t>(),
               d);
  for (int64_t bh = 0; bh < d.slices(); ++bh) {
    if (pat.host_nnz[static_cast<size_t>(bh)] == 0) continue;
    const Views w(d, bh);
    const Csr pf(pat, bh, vals.as<float>());
    spmm(be, false, pf, w.k_like(v.data<float>()), 0.f, w.q_like(out.data<float>()));
  }
}

void sparse_attention_cusparse_bwd(CudaBackend& be, const SparseAttentionParams& p, Tensor& dq, Tensor& dk,
                                   Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Tensor& out, const Tensor& lse, const Tensor& idx) {
  const CsrPattern pat(be, p, idx);
  const csr::Dims& d = pat.d;
  const size_t n = static_cast<size_t>(d.rows() * d.slots);
  ScratchBuffer pv(be.allocator(), sizeof(float) * n), pfv(be.allocator(), sizeof(float) * n),
      dsv(be.allocator(), sizeof(float) * n);
  be.fill(dq, 0.0);
  be.fill(dk, 0.0);
  be.fill(dv, 0.0);
  for (int64_t bh = 0; bh < d.slices(); ++bh) {
    if (pat.host_nnz[static_cast<size_t>(bh)] == 0) continue;
    const Views w(d, bh);
    sddmm(be, d.scale, w.q_like(q.data<float>()), w.k_like(k.data<float>()), Csr(pat, bh, pv.as<float>()));
    sddmm(be, 1.f, w.q_like(dout.data<float>()), w.k_like(v.data<float>()), Csr(pat, bh, dsv.as<float>()));
  }
  csr::probs(be.stream(), pv.as<float>(), pfv.as<float>(), lse.data<float>(), pat.offsets.as<int32_t>(),
             pat.cols.as<int32_t>(), d);
  csr::dscores(be.stream(), dsv.as<float>(), pv.as<float>(), dout.data<float>(), out.data<float>(),
               pat.offsets.as<int32_t>(), pat.cols.as<int32_t>(), d);
  for (int64_t bh = 0; bh < d.slices(); ++bh) {
    if (pat.host_nnz[static_cast<size_t>(bh)] == 0) continue;
    const Views w(d, bh);
    const Csr pf(pat, bh, pfv.as<float>()), ds(pat, bh, dsv.as<float>());
    spmm(be, true, pf, w.q_like(dout.data<float>()), 1.f, w.k_like(dv.data<float>()));
    spmm(be, false, ds, w.k_like(k.data<float>()), 0.f, w.q_like(dq.data<float>()));
    spmm(be, true, ds, w.q_like(q.data<float>()), 1.f, w.k_like(dk.data<float>()));
  }
}

}  // namespace spt::cuda
