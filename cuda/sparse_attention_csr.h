// Kernels of the cuSPARSE path of sparse attention (sparse_attention_cusparse.cpp):
// the CSR form of the key pattern and the row-wise steps between the library
// calls. Kept apart so that the kernel file compiles without cusparse.h.
//
// One CSR matrix (Tq x Tk) per (b, h), slice bh = b H + h of the arrays: row
// offsets (from 0) at offsets + bh (Tq + 1), columns and values at bh Tq L
// (room for L per row; the first nnz[bh] used). Row r = bh Tq + i.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "spt/backend/backend.h"
#include "spt/backend/sparse_attention_math.h"  // SPT_HD

namespace spt::cuda::csr {

struct Dims {
  int64_t batch, heads, kv_heads, tq, tk, d, slots;
  float scale;
  DropoutParams dropout;
  SPT_HD int64_t slices() const { return batch * heads; }
  SPT_HD int64_t rows() const { return batch * heads * tq; }
};

Dims dims_of(const SparseAttentionParams& p);

// offsets, nnz (one per slice) and columns from the index lists (i16 or i32).
void build(cudaStream_t stream, int32_t* offsets, int32_t* nnz, int32_t* cols, const Tensor& idx,
           const Dims& d);

// Forward: the scores s (scale q . k on the pattern, from SDDMM) become
// pf = P f (dropout factors f applied) in place; lse per row (-inf: no keys).
void softmax(cudaStream_t stream, float* s_to_pf, float* lse, const int32_t* offsets,
             const int32_t* cols, const Dims& d);

// Backward, from the recomputed scores: p = exp(s - lse) in place of s, and pf = p f.
void probs(cudaStream_t stream, float* s_to_p, float* pf, const float* lse, const int32_t* offsets,
           const int32_t* cols, const Dims& d);

// Backward: dS = scale P (f dP - D_i), D_i = dout_i . out_i, in place of dP
// (dout . v on the pattern, from SDDMM).
void dscores(cudaStream_t stream, float* dp_to_ds, const float* p, const float* dout, const float* out,
             const int32_t* offsets, const int32_t* cols, const Dims& d);

}  // namespace spt::cuda::csr

namespace spt::cuda {

class CudaBackend;

// The whole cuSPARSE path (sparse_attention_cusparse.cpp): the same contract as
// CudaBackend::sparse_attention_fwd / _bwd.
void sparse_attention_cusparse_fwd(CudaBackend& be, const SparseAttentionParams& p, Tensor& out, Tensor& lse,
                                   const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& idx);
void sparse_attention_cusparse_bwd(CudaBackend& be, const SparseAttentionParams& p, Tensor& dq, Tensor& dk,
                                   Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Tensor& out, const Tensor& lse, const Tensor& idx);

}  // namespace spt::cuda
