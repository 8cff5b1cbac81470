// Kernels of the cuSPARSE path of sparse attention (see sparse_attention_csr.h).
// Row-wise kernels run one warp per query row, the row's entries spread over
// the lanes; the formulas are those of src/cpu/sparse_attention.cpp.
#include <math_constants.h>

#include <algorithm>
#include <cub/block/block_scan.cuh>

#include "cuda_check.h"
#include "launch.h"
#include "sparse_attention_csr.h"
#include "spt/backend/sparse_attention_math.h"

namespace spt::cuda::csr {

namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;
constexpr int kScanThreads = 256;

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Entries [e0, e1) of row r in the slice arrays.
struct RowSpan {
  int64_t b, h, i, e0, e1;
};
__device__ __forceinline__ RowSpan row_span(const int32_t* offsets, const Dims& d, int64_t r) {
  RowSpan s;
  const int64_t bh = r / d.tq;
  s.b = bh / d.heads;
  s.h = bh % d.heads;
  s.i = r % d.tq;
  const int32_t* off = offsets + bh * (d.tq + 1);
  s.e0 = bh * d.tq * d.slots + off[s.i];
  s.e1 = bh * d.tq * d.slots + off[s.i + 1];
  return s;
}

__device__ __forceinline__ float factor(const Dims& d, const RowSpan& s, int64_t j) {
  return sparse::dropout_factor(d.dropout.seed, d.dropout.offset,
                                d.dropout.base + sparse::dropout_index(s.b, s.h, s.i, j, d.heads, d.tq, d.tk), d.dropout.p);
}

// offsets[bh (Tq + 1) + i + 1] = length of row (bh, i) (the scan follows).
template <class I>
__global__ void row_lengths_kernel(int32_t* offsets, const I* idx, Dims d) {
  const int64_t rows = d.rows();
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const I* ir = idx + r * d.slots;
    int32_t n = 0;
    while (n < d.slots && ir[n] >= 0) ++n;
    const int64_t bh = r / d.tq;
    offsets[bh * (d.tq + 1) + r % d.tq + 1] = n;
  }
}

// One block per slice: lengths -> offsets (inclusive scan in tiles), nnz.
__global__ void __launch_bounds__(kScanThreads) scan_kernel(int32_t* offsets, int32_t* nnz, Dims d) {
  using Scan = cub::BlockScan<int32_t, kScanThreads>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ int32_t carry;
  for (int64_t bh = blockIdx.x; bh < d.slices(); bh += gridDim.x) {
    int32_t* off = offsets + bh * (d.tq + 1);
    if (threadIdx.x == 0) carry = 0;
    __syncthreads();
    for (int64_t base = 0; base < d.tq; base += kScanThreads) {
      const int64_t i = base + threadIdx.x;
      const int32_t v = i < d.tq ? off[i + 1] : 0;
      int32_t incl = 0, total = 0;
      Scan(tmp).InclusiveSum(v, incl, total);
      if (i < d.tq) off[i + 1] = incl + carry;
      __syncthreads();
      if (threadIdx.x == 0) carry += total;
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      off[0] = 0;
      nnz[bh] = carry;
    }
    __syncthreads();
  }
}

template <class I>
__global__ void columns_kernel(int32_t* cols, const int32_t* offsets, const I* idx, Dims d) {
  const int64_t rows = d.rows();
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const RowSpan s = row_span(offsets, d, r);
    for (int64_t t = 0; t < s.e1 - s.e0; ++t) cols[s.e0 + t] = static_cast<int32_t>(idx[r * d.slots + t]);
  }
}

__global__ void __launch_bounds__(kWarp * kWarpsPerBlock)
    softmax_kernel(float* v, float* lse, const int32_t* offsets, const int32_t* cols, Dims d) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / kWarp; r < d.rows();
       r += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const RowSpan s = row_span(offsets, d, r);
    float m = -CUDART_INF_F;
    for (int64_t e = s.e0 + lane; e < s.e1; e += kWarp) m = fmaxf(m, v[e]);
    m = warp_max(m);
    float sum = 0.f;
    for (int64_t e = s.e0 + lane; e < s.e1; e += kWarp) sum += expf(v[e] - m);
    sum = warp_sum(sum);
    const float l = s.e1 > s.e0 ? m + logf(sum) : -CUDART_INF_F;
    for (int64_t e = s.e0 + lane; e < s.e1; e += kWarp) v[e] = expf(v[e] - l) * factor(d, s, cols[e]);
    if (lane == 0) lse[r] = l;
  }
}

__global__ void __launch_bounds__(kWarp * kWarpsPerBlock)
    probs_kernel(float* v, float* pf, const float* lse, const int32_t* offsets, const int32_t* cols, Dims d) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / kWarp; r < d.rows();
       r += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const RowSpan s = row_span(offsets, d, r);
    for (int64_t e = s.e0 + lane; e < s.e1; e += kWarp) {
      const float p = expf(v[e] - lse[r]);
      v[e] = p;
      pf[e] = p * factor(d, s, cols[e]);
    }
  }
}

__global__ void __launch_bounds__(kWarp * kWarpsPerBlock)
    dscores_kernel(float* dp, const float* p, const float* dout, const float* out, const int32_t* offsets,
                   const int32_t* cols, Dims d) {
  const int lane = threadIdx.x % kWarp;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / kWarp; r < d.rows();
       r += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    const RowSpan s = row_span(offsets, d, r);
    const int64_t off = (s.b * d.tq + s.i) * d.heads * d.d + s.h * d.d;
    float di = 0.f;
    for (int64_t c = lane; c < d.d; c += kWarp) di += dout[off + c] * out[off + c];
    di = warp_sum(di);
    for (int64_t e = s.e0 + lane; e < s.e1; e += kWarp)
      dp[e] = d.scale * p[e] * (factor(d, s, cols[e]) * dp[e] - di);
  }
}

unsigned warp_grid(int64_t rows) {
  return static_cast<unsigned>(std::clamp<int64_t>(ceil_div(rows, kWarpsPerBlock), 1, 1 << 20));
}

}  // namespace

Dims dims_of(const SparseAttentionParams& p) {
  return {p.batch, p.heads, p.kv_heads, p.tq, p.tk, p.head_dim, p.slots, p.scale, p.dropout};
}

void build(cudaStream_t stream, int32_t* offsets, int32_t* nnz, int32_t* cols, const Tensor& idx,
           const Dims& d) {
  const unsigned grid = grid_for(d.rows());
  if (idx.dtype() == DType::i16)
    row_lengths_kernel<int16_t><<<grid, kThreads, 0, stream>>>(offsets, idx.data<int16_t>(), d);
  else
    row_lengths_kernel<int32_t><<<grid, kThreads, 0, stream>>>(offsets, idx.data<int32_t>(), d);
  SPT_CUDA_CHECK_LAUNCH("row_lengths_kernel");
  scan_kernel<<<static_cast<unsigned>(std::min<int64_t>(d.slices(), 65535)), kScanThreads, 0, stream>>>(
      offsets, nnz, d);
  SPT_CUDA_CHECK_LAUNCH("scan_kernel");
  if (idx.dtype() == DType::i16)
    columns_kernel<int16_t><<<grid, kThreads, 0, stream>>>(cols, offsets, idx.data<int16_t>(), d);
  else
    columns_kernel<int32_t><<<grid, kThreads, 0, stream>>>(cols, offsets, idx.data<int32_t>(), d);
  SPT_CUDA_CHECK_LAUNCH("columns_kernel");
}

void softmax(cudaStream_t stream, float* s_to_pf, float* lse, const int32_t* offsets, const int32_t* cols,
             const Dims& d) {
  softmax_kernel<<<warp_grid(d.rows()), kWarp * kWarpsPerBlock, 0, stream>>>(s_to_pf, lse, offsets, cols, d);
  SPT_CUDA_CHECK_LAUNCH("softmax_kernel");
}

void probs(cudaStream_t stream, float* s_to_p, float* pf, const float* lse, const int32_t* offsets,
           const int32_t* cols, const Dims& d) {
  probs_kernel<<<warp_grid(d.rows()), kWarp * kWarpsPerBlock, 0, stream>>>(s_to_p, pf, lse, offsets, cols, d);
  SPT_CUDA_CHECK_LAUNCH("probs_kernel");
}

void dscores(cudaStream_t stream, float* dp_to_ds, const float* p, const float* dout, const float* out,
             const int32_t* offsets, const int32_t* cols, const Dims& d) {
  dscores_kernel<<<warp_grid(d.rows()), kWarp * kWarpsPerBlock, 0, stream>>>(dp_to_ds, p, dout, out, offsets,
                                                                             cols, d);
  SPT_CUDA_CHECK_LAUNCH("dscores_kernel");
}

}  // namespace spt::cuda::csr
