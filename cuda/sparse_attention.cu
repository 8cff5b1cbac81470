// Attention on per-query key lists, as src/cpu/sparse_attention.cpp (same
// formulas; dropout factors from the same Philox elements, so masks match):
// one warp per query row, the head dimension spread over the lanes.
//
// Forward gathers the row's keys and values straight from k and v and keeps an
// online softmax (running max m, sum l; FlashAttention) so nothing of size L is
// stored: out = acc / l, lse = m + log l.
// Backward recomputes s and P from lse; dq is row-local (registers), dk and dv
// are scattered with f32 atomicAdd (fast; the summation order, and so the last
// bits, may vary from run to run). With p.deterministic they go through a
// transposed index list instead: the row pass stores dS and P f per entry
// e = r L + s and the entry's key (b, g, j); a stable radix sort by key (CUB)
// lists each key's entries in increasing e; one warp per key then sums its
// entries in that order and writes dk and dv (=). Run-to-run identical, at the
// cost of 2 x 4 bytes per entry for dS / P f and 16 for the sort.
// SparseKernel::cusparse runs sparse_attention_cusparse.cpp instead.
#include <math_constants.h>

#include <algorithm>
#include <cub/device/device_radix_sort.cuh>

#include "backend_impl.h"
#include "cuda_check.h"
#include "launch.h"
#include "sparse_attention_csr.h"
#include "spt/backend/sparse_attention_math.h"

namespace spt::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 4;             // warps per block
constexpr int kMaxDimPerLane = 8;            // head size <= 256

struct SparseDims {
  int64_t batch, heads, kv_heads, tq, tk, d, slots;
  float scale;
  DropoutParams dropout;
};

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Pointers of query row r: (b, h, i) and its key/value head.
struct RowPtrs {
  int64_t b, h, i, qoff, kvoff;
};

__device__ __forceinline__ RowPtrs row_ptrs(const SparseDims& p, int64_t r) {
  RowPtrs x;
  x.b = r / (p.heads * p.tq);
  x.h = (r / p.tq) % p.heads;
  x.i = r % p.tq;
  const int64_t g = x.h / (p.heads / p.kv_heads);
  x.qoff = (x.b * p.tq + x.i) * p.heads * p.d + x.h * p.d;
  x.kvoff = x.b * p.tk * p.kv_heads * p.d + g * p.d;
  return x;
}

template <class I>
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    sparse_attention_fwd_kernel(float* out, float* lse, const float* q, const float* k,
                                const float* v, const I* idx, SparseDims p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = p.batch * p.heads * p.tq;
  const int64_t ldk = p.kv_heads * p.d;
  for (int64_t r = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const RowPtrs x = row_ptrs(p, r);
    float qr[kMaxDimPerLane], acc[kMaxDimPerLane];
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const int64_t d = lane + t * kWarp;
      qr[t] = d < p.d ? q[x.qoff + d] : 0.f;
      acc[t] = 0.f;
    }
    float m = -CUDART_INF_F, l = 0.f;
    const I* ir = idx + r * p.slots;
    for (int64_t s = 0; s < p.slots; ++s) {
      const int64_t j = ir[s];
      if (j < 0) break;
      const float* kj = k + x.kvoff + j * ldk;
      float part = 0.f;
      for (int t = 0; t < kMaxDimPerLane; ++t) {
        const int64_t d = lane + t * kWarp;
        if (d < p.d) part += qr[t] * kj[d];
      }
      const float sc = p.scale * warp_sum(part);
      const float m_new = fmaxf(m, sc);
      const float corr = expf(m - m_new);  // 0 on the first key (m = -inf)
      const float e = expf(sc - m_new);
      l = l * corr + e;
      const float f = sparse::dropout_factor(
          p.dropout.seed, p.dropout.offset,
          p.dropout.base + sparse::dropout_index(x.b, x.h, x.i, j, p.heads, p.tq, p.tk), p.dropout.p);
      const float* vj = v + x.kvoff + j * ldk;
      for (int t = 0; t < kMaxDimPerLane; ++t) {
        const int64_t d = lane + t * kWarp;
        acc[t] = acc[t] * corr + (d < p.d ? f * e * vj[d] : 0.f);
      }
      m = m_new;
    }
    const float inv = l > 0.f ? 1.f / l : 0.f;
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const int64_t d = lane + t * kWarp;
      if (d < p.d) out[x.qoff + d] = acc[t] * inv;
    }
    if (lane == 0) lse[r] = l > 0.f ? m + logf(l) : -CUDART_INF_F;
  }
}

// One query row r of the backward (one warp): dq_r written; for every kept key
// (slot s, key j) every lane calls emit(x, s, j, ds, pf, qr, gr) with dS and
// P f of the pair and the lane's parts of q_r and dout_r.
template <class I, class Emit>
__device__ __forceinline__ void bwd_row(int64_t r, float* dq, const float* dout, const float* q, const float* k,
                                        const float* v, const float* out, const float* lse, const I* idx,
                                        const SparseDims& p, Emit emit) {
  const int lane = threadIdx.x % kWarp;
  const int64_t ldk = p.kv_heads * p.d;
  const RowPtrs x = row_ptrs(p, r);
  float qr[kMaxDimPerLane], gr[kMaxDimPerLane], dqr[kMaxDimPerLane];
  float di = 0.f;
  for (int t = 0; t < kMaxDimPerLane; ++t) {
    const int64_t d = lane + t * kWarp;
    qr[t] = d < p.d ? q[x.qoff + d] : 0.f;
    gr[t] = d < p.d ? dout[x.qoff + d] : 0.f;
    di += d < p.d ? gr[t] * out[x.qoff + d] : 0.f;
    dqr[t] = 0.f;
  }
  di = warp_sum(di);
  const float row_lse = lse[r];
  const I* ir = idx + r * p.slots;
  for (int64_t s = 0; s < p.slots && row_lse > -CUDART_INF_F; ++s) {
    const int64_t j = ir[s];
    if (j < 0) break;
    const float* kj = k + x.kvoff + j * ldk;
    const float* vj = v + x.kvoff + j * ldk;
    float qk = 0.f, gv = 0.f;
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const int64_t d = lane + t * kWarp;
      if (d < p.d) {
        qk += qr[t] * kj[d];
        gv += gr[t] * vj[d];
      }
    }
    qk = warp_sum(qk);
    gv = warp_sum(gv);
    const float pr = expf(p.scale * qk - row_lse);
    const float f = sparse::dropout_factor(
        p.dropout.seed, p.dropout.offset,
        p.dropout.base + sparse::dropout_index(x.b, x.h, x.i, j, p.heads, p.tq, p.tk), p.dropout.p);
    const float ds = p.scale * pr * (f * gv - di);
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const int64_t d = lane + t * kWarp;
      if (d < p.d) dqr[t] += ds * kj[d];
    }
    emit(x, s, j, ds, f * pr, qr, gr);
  }
  for (int t = 0; t < kMaxDimPerLane; ++t) {
    const int64_t d = lane + t * kWarp;
    if (d < p.d) dq[x.qoff + d] = dqr[t];
  }
}

template <class I>
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    sparse_attention_bwd_kernel(float* dq, float* dk, float* dv, const float* dout,
                                const float* q, const float* k, const float* v, const float* out,
                                const float* lse, const I* idx, SparseDims p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = p.batch * p.heads * p.tq;
  const int64_t ldk = p.kv_heads * p.d;
  for (int64_t r = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    bwd_row(r, dq, dout, q, k, v, out, lse, idx, p,
            [&](const RowPtrs& x, int64_t, int64_t j, float ds, float pf, const float* qr, const float* gr) {
              for (int t = 0; t < kMaxDimPerLane; ++t) {
                const int64_t d = lane + t * kWarp;
                if (d < p.d) {
                  atomicAdd(dk + x.kvoff + j * ldk + d, ds * qr[t]);
                  if (pf != 0.f) atomicAdd(dv + x.kvoff + j * ldk + d, pf * gr[t]);
                }
              }
            });
  }
}

// Deterministic backward, pass 1: dq per row as above; per entry e = r L + s
// its dS and P f, and sort key (b Hk + g) Tk + j (empty slots: the sentinel
// B Hk Tk, sorted last), value e.
template <class I>
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    sparse_attention_bwd_rows_kernel(float* dq, float* ds_buf, float* pf_buf, uint32_t* keys, int32_t* vals,
                                     const float* dout, const float* q, const float* k, const float* v,
                                     const float* out, const float* lse, const I* idx, SparseDims p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = p.batch * p.heads * p.tq;
  const uint32_t sentinel = static_cast<uint32_t>(p.batch * p.kv_heads * p.tk);
  for (int64_t r = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    for (int64_t s = lane; s < p.slots; s += kWarp) {
      keys[r * p.slots + s] = sentinel;
      vals[r * p.slots + s] = static_cast<int32_t>(r * p.slots + s);
    }
    __syncwarp();
    bwd_row(r, dq, dout, q, k, v, out, lse, idx, p,
            [&](const RowPtrs& x, int64_t s, int64_t j, float ds, float pf, const float*, const float*) {
              if (lane != 0) return;
              const int64_t e = r * p.slots + s;
              const int64_t g = x.h / (p.heads / p.kv_heads);
              ds_buf[e] = ds;
              pf_buf[e] = pf;
              keys[e] = static_cast<uint32_t>((x.b * p.kv_heads + g) * p.tk + j);
            });
  }
}

// First position in sorted[0, n) whose key is >= key.
__device__ __forceinline__ int64_t lower_bound(const uint32_t* sorted, int64_t n, uint32_t key) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Pass 2: one warp per key (b, g, j): its entries in sorted order (increasing e).
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
    sparse_attention_bwd_keys_kernel(float* dk, float* dv, const uint32_t* sorted_keys, const int32_t* sorted_vals,
                                     int64_t n, const float* ds_buf, const float* pf_buf, const float* q,
                                     const float* dout, SparseDims p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t nkeys = p.batch * p.kv_heads * p.tk;
  const int64_t ldk = p.kv_heads * p.d;
  for (int64_t key = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp; key < nkeys;
       key += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const int64_t b = key / (p.kv_heads * p.tk), g = (key / p.tk) % p.kv_heads, j = key % p.tk;
    const int64_t p0 = lower_bound(sorted_keys, n, static_cast<uint32_t>(key));
    const int64_t p1 = lower_bound(sorted_keys, n, static_cast<uint32_t>(key + 1));
    float ak[kMaxDimPerLane], av[kMaxDimPerLane];
    for (int t = 0; t < kMaxDimPerLane; ++t) ak[t] = av[t] = 0.f;
    for (int64_t pos = p0; pos < p1; ++pos) {
      const int64_t e = sorted_vals[pos];
      const RowPtrs x = row_ptrs(p, e / p.slots);
      const float ds = ds_buf[e], pf = pf_buf[e];
      for (int t = 0; t < kMaxDimPerLane; ++t) {
        const int64_t d = lane + t * kWarp;
        if (d < p.d) {
          ak[t] += ds * q[x.qoff + d];
          av[t] += pf * dout[x.qoff + d];
        }
      }
    }
    const int64_t off = b * p.tk * ldk + g * p.d + j * ldk;
    for (int t = 0; t < kMaxDimPerLane; ++t) {
      const int64_t d = lane + t * kWarp;
      if (d < p.d) {
        dk[off + d] = ak[t];
        dv[off + d] = av[t];
      }
    }
  }
}

SparseDims dims_of(const SparseAttentionParams& p) {
  SPT_CHECK(p.head_dim <= kWarp * kMaxDimPerLane, "[sparse_attention] head size ", p.head_dim,
            " is above the CUDA kernels' limit of ", kWarp * kMaxDimPerLane);
  return {p.batch, p.heads, p.kv_heads, p.tq, p.tk, p.head_dim, p.slots, p.scale, p.dropout};
}

unsigned grid_for_warp_rows(int64_t rows) {
  return static_cast<unsigned>(std::clamp<int64_t>(ceil_div(rows, kRowsPerBlock), 1, 1 << 20));
}

}  // namespace

void CudaBackend::sparse_attention_fwd(const SparseAttentionParams& p, Tensor& out, Tensor& lse,
                                       const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& idx) {
  require_f32("sparse_attention", out, lse, q, k, v);
  const SparseDims d = dims_of(p);
  const int64_t rows = p.batch * p.heads * p.tq;
  if (rows == 0) return;
  const DeviceGuard guard(index_);
  if (p.kernel == SparseKernel::cusparse) {
    sparse_attention_cusparse_fwd(*this, p, out, lse, q, k, v, idx);
    return;
  }
  const unsigned grid = grid_for_warp_rows(rows);
  if (idx.dtype() == DType::i16)
    sparse_attention_fwd_kernel<int16_t><<<grid, kWarp * kRowsPerBlock, 0, stream()>>>(
        out.data<float>(), lse.data<float>(), q.data<float>(), k.data<float>(), v.data<float>(),
        idx.data<int16_t>(), d);
  else
    sparse_attention_fwd_kernel<int32_t><<<grid, kWarp * kRowsPerBlock, 0, stream()>>>(
        out.data<float>(), lse.data<float>(), q.data<float>(), k.data<float>(), v.data<float>(),
        idx.data<int32_t>(), d);
  SPT_CUDA_CHECK_LAUNCH("sparse_attention_fwd_kernel");
}

void CudaBackend::sparse_attention_bwd(const SparseAttentionParams& p, Tensor& dq, Tensor& dk,
                                       Tensor& dv, const Tensor& dout, const Tensor& q,
                                       const Tensor& k, const Tensor& v, const Tensor& out,
                                       const Tensor& lse, const Tensor& idx) {
  require_f32("sparse_attention", dq, dk, dv, dout, q, k, v, out, lse);
  const SparseDims d = dims_of(p);
  const int64_t rows = p.batch * p.heads * p.tq;
  const DeviceGuard guard(index_);
  if (p.kernel == SparseKernel::cusparse) {
    sparse_attention_cusparse_bwd(*this, p, dq, dk, dv, dout, q, k, v, out, lse, idx);
    return;
  }
  if (p.deterministic) {
    sparse_attention_bwd_deterministic(p, dq, dk, dv, dout, q, k, v, out, lse, idx);
    return;
  }
  fill(dk, 0.0);
  fill(dv, 0.0);
  if (rows == 0) return;
  const unsigned grid = grid_for_warp_rows(rows);
  if (idx.dtype() == DType::i16)
    sparse_attention_bwd_kernel<int16_t><<<grid, kWarp * kRowsPerBlock, 0, stream()>>>(
        dq.data<float>(), dk.data<float>(), dv.data<float>(), dout.data<float>(), q.data<float>(),
        k.data<float>(), v.data<float>(), out.data<float>(), lse.data<float>(),
        idx.data<int16_t>(), d);
  else
    sparse_attention_bwd_kernel<int32_t><<<grid, kWarp * kRowsPerBlock, 0, stream()>>>(
        dq.data<float>(), dk.data<float>(), dv.data<float>(), dout.data<float>(), q.data<float>(),
        k.data<float>(), v.data<float>(), out.data<float>(), lse.data<float>(),
        idx.data<int32_t>(), d);
  SPT_CUDA_CHECK_LAUNCH("sparse_attention_bwd_kernel");
}

void CudaBackend::sparse_attention_bwd_deterministic(const SparseAttentionParams& p, Tensor& dq, Tensor& dk,
                                                     Tensor& dv, const Tensor& dout, const Tensor& q,
                                                     const Tensor& k, const Tensor& v, const Tensor& out,
                                                     const Tensor& lse, const Tensor& idx) {
  const SparseDims d = dims_of(p);
  const int64_t rows = p.batch * p.heads * p.tq, n = rows * p.slots;
  const int64_t nkeys = p.batch * p.kv_heads * p.tk;
  SPT_CHECK(n < (int64_t{1} << 31) && nkeys < (int64_t{1} << 32) - 1, "[sparse_attention] ", n,
            " entries are too many for the deterministic backward; hint: set attention.cuda.deterministic "
            "to false or use smaller batches");
  if (n == 0) {
    fill(dq, 0.0);
    fill(dk, 0.0);
    fill(dv, 0.0);
    return;
  }
  const size_t un = static_cast<size_t>(n);
  ScratchBuffer ds(allocator_, un * sizeof(float)), pf(allocator_, un * sizeof(float));
  ScratchBuffer keys(allocator_, un * sizeof(uint32_t)), keys_out(allocator_, un * sizeof(uint32_t));
  ScratchBuffer vals(allocator_, un * sizeof(int32_t)), vals_out(allocator_, un * sizeof(int32_t));
  const unsigned grid = grid_for_warp_rows(rows);
  if (idx.dtype() == DType::i16)
    sparse_attention_bwd_rows_kernel<int16_t><<<grid, kWarp * kRowsPerBlock, 0, stream()>>>(
        dq.data<float>(), ds.as<float>(), pf.as<float>(), keys.as<uint32_t>(), vals.as<int32_t>(),
        dout.data<float>(), q.data<float>(), k.data<float>(), v.data<float>(), out.data<float>(),
        lse.data<float>(), idx.data<int16_t>(), d);
  else
    sparse_attention_bwd_rows_kernel<int32_t><<<grid, kWarp * kRowsPerBlock, 0, stream()>>>(
        dq.data<float>(), ds.as<float>(), pf.as<float>(), keys.as<uint32_t>(), vals.as<int32_t>(),
        dout.data<float>(), q.data<float>(), k.data<float>(), v.data<float>(), out.data<float>(),
        lse.data<float>(), idx.data<int32_t>(), d);
  SPT_CUDA_CHECK_LAUNCH("sparse_attention_bwd_rows_kernel");
  int end_bit = 1;  // bits of the sentinel key nkeys
  while ((int64_t{1} << end_bit) <= nkeys) ++end_bit;
  size_t temp_bytes = 0;
  SPT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys.as<uint32_t>(), keys_out.as<uint32_t>(),
                                                 vals.as<int32_t>(), vals_out.as<int32_t>(), n, 0, end_bit,
                                                 stream()));
  ScratchBuffer temp(allocator_, temp_bytes);
  SPT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, keys.as<uint32_t>(),
                                                 keys_out.as<uint32_t>(), vals.as<int32_t>(),
                                                 vals_out.as<int32_t>(), n, 0, end_bit, stream()));
  sparse_attention_bwd_keys_kernel<<<grid_for_warp_rows(nkeys), kWarp * kRowsPerBlock, 0, stream()>>>(
      dk.data<float>(), dv.data<float>(), keys_out.as<uint32_t>(), vals_out.as<int32_t>(), n, ds.as<float>(),
      pf.as<float>(), q.data<float>(), dout.data<float>(), d);
  SPT_CUDA_CHECK_LAUNCH("sparse_attention_bwd_keys_kernel");
}

}  // namespace spt::cuda
