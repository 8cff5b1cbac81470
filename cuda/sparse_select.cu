// Key selection for sparse attention on the GPU, the rules of
// src/cpu/sparse_select.cpp with the same shared helpers
// (spt/backend/sparse_attention_math.h):
//   pq_encode_kernel     one thread per (b, g, key, sub-space): nearest codeword;
//   sparse_select_kernel one block per query row (grid-stride): the query's
//     tables in shared memory, quantised to 8 bits; 16-bit ADC scores packed
//     with the key index into 64-bit rank keys (larger = better, ties to the
//     smaller index, all distinct), the top count found by a most-significant-
//     bit-first select (one block count per bit), exact re-ranking of the
//     candidates when rerank > 1, and an ordered compaction of the chosen keys.
// The rank keys live in a per-block global scratch row (Tk x 8 bytes).
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/reduce.cuh"
#include "launch.h"
#include "spt/backend/sparse_attention_math.h"

namespace spt::cuda {

namespace {

constexpr int kSelectThreads = 256;
constexpr int64_t kMaxSelectBlocks = 2048;
constexpr int64_t kMaxTable = 8192;  // M * C entries in shared memory

__global__ void pq_encode_kernel(uint8_t* codes, const float* k, const float* cb, int64_t batch,
                                 int64_t kv_heads, int64_t tk, int64_t d, int64_t m_count,
                                 int64_t c_count) {
  const int64_t ds = d / m_count, total = batch * kv_heads * tk * m_count;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = e % m_count, j = (e / m_count) % tk, g = (e / (m_count * tk)) % kv_heads;
    const int64_t b = e / (m_count * tk * kv_heads);
    const float* x = k + (b * tk + j) * kv_heads * d + g * d + m * ds;
    const float* cm = cb + (g * m_count + m) * c_count * ds;
    int best = 0;
    float best_d = 0.f;
    for (int64_t c = 0; c < c_count; ++c) {
      float dist = 0.f;
      for (int64_t t = 0; t < ds; ++t) {
        const float diff = x[t] - cm[c * ds + t];
        dist += diff * diff;
      }
      if (c == 0 || dist < best_d) best = static_cast<int>(c), best_d = dist;
    }
    codes[e] = static_cast<uint8_t>(best);
  }
}

// Visible keys j < end of a row (mask row or null).
__device__ int64_t count_visible(const int32_t* mrow, int64_t end) {
  long long c = 0;
  for (int64_t j = threadIdx.x; j < end; j += blockDim.x) c += mrow == nullptr || mrow[j] != 0;
  return device::block_sum(c);
}

// The count-th largest of keys[0, n) (keys distinct where nonzero; count >= 1).
__device__ uint64_t block_kth_largest(const uint64_t* keys, int64_t n, int64_t count) {
  uint64_t prefix = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const uint64_t cand = prefix | (1ull << bit);
    long long c = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) c += keys[j] >= cand;
    if (device::block_sum(c) >= count) prefix = cand;
  }
  return prefix;
}

struct SelectArgs {
  SparseSelectParams p;
  int64_t ldq, ldk;
};

template <class I>
__global__ void __launch_bounds__(kSelectThreads)
    sparse_select_kernel(I* idx, uint64_t* scratch, const float* q, const float* k,
                         const int32_t* key_mask, const float* cb, const uint8_t* codes,
                         SelectArgs args) {
  extern __shared__ unsigned char smem[];
  const SparseSelectParams& p = args.p;
  const SparseAttentionParams& a = p.attn;
  const int64_t M = p.subspaces, Cw = p.codewords, D = a.head_dim, ds = D / M;
  float* lut = reinterpret_cast<float*>(smem);
  uint8_t* qlut = smem + M * Cw * sizeof(float);
  __shared__ float scale_a;
  __shared__ long long warp_base[kSelectThreads / 32 + 1];
  uint64_t* keys = scratch + blockIdx.x * a.tk;
  const int64_t rows = a.batch * a.heads * a.tq, G = a.heads / a.kv_heads;

  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t b = r / (a.heads * a.tq), h = (r / a.tq) % a.heads, i = r % a.tq, g = h / G;
    const float* qi = q + (b * a.tq + i) * args.ldq + h * D;
    const float* k0 = k + b * a.tk * args.ldk + g * D;
    const int32_t* mrow = key_mask != nullptr ? key_mask + b * a.tk : nullptr;
    const uint8_t* kc = codes + (b * a.kv_heads + g) * a.tk * M;
    const int64_t end = sparse::causal_end(i, a.tq, a.tk, p.causal);
    I* out = idx + r * a.slots;

    const int64_t n = count_visible(mrow, end);
    const int64_t budget = sparse::row_budget(n, p.top_l, p.top_ratio, p.min_l);
    const bool all = n <= budget;
    int64_t forced = 0;
    if (!all) {
      // Tables q_m . c_{m,c}, one scale for the query, 8-bit entries.
      for (int64_t e = threadIdx.x; e < M * Cw; e += blockDim.x) {
        const int64_t m = e / Cw;
        const float* c = cb + ((g * M + m) * Cw + e % Cw) * ds;
        float s = 0.f;
        for (int64_t t = 0; t < ds; ++t) s += qi[m * ds + t] * c[t];
        lut[e] = s;
      }
      __syncthreads();
      if (threadIdx.x == 0) scale_a = sparse::lut_scale(lut, M, Cw).a;
      __syncthreads();
      for (int64_t m = threadIdx.x; m < M; m += blockDim.x)
        sparse::quantize_table(qlut + m * Cw, lut + m * Cw, Cw, scale_a);
      __syncthreads();
      long long f = 0;
      for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) {
        uint64_t key = 0;
        const bool vis = j < end && (mrow == nullptr || mrow[j] != 0);
        if (vis && sparse::forced_key(j, i, a.tq, a.tk, p.keep_first, p.local_window)) {
          ++f;
        } else if (vis) {
          uint32_t s = 0;
          for (int64_t m = 0; m < M; ++m) s += qlut[m * Cw + kc[j * M + m]];
          key = sparse::rank_key_u16(s, j);
        }
        keys[j] = key;
      }
      forced = device::block_sum(f);
      const int64_t R = budget - forced > 0 ? budget - forced : 0;
      const int64_t rest = n - forced;
      const int64_t nc = p.rerank * R < rest ? p.rerank * R : rest;
      uint64_t thr = ~0ull;  // nothing chosen
      if (nc > 0) thr = block_kth_largest(keys, a.tk, nc);
      if (nc > R && R > 0) {  // exact re-ranking of the candidates
        for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) {
          uint64_t key = 0;
          if (keys[j] != 0 && keys[j] >= thr) {
            const float* kj = k0 + j * args.ldk;
            float s = 0.f;
            for (int64_t t = 0; t < D; ++t) s += qi[t] * kj[t];
            key = sparse::rank_key_f32(s, j);
          }
          keys[j] = key;
        }
        __syncthreads();
        thr = block_kth_largest(keys, a.tk, R);
      } else if (R == 0) {
        thr = ~0ull;
      }
      // Mark chosen keys: forced, or rank key >= thr.
      for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) {
        const bool vis = j < end && (mrow == nullptr || mrow[j] != 0);
        const bool chosen =
            vis && (sparse::forced_key(j, i, a.tq, a.tk, p.keep_first, p.local_window) ||
                    (keys[j] != 0 && keys[j] >= thr));
        keys[j] = chosen ? 1 : 0;
      }
    } else {
      for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x)
        keys[j] = j < end && (mrow == nullptr || mrow[j] != 0) ? 1 : 0;
    }
    __syncthreads();
    // Ordered compaction: chunk by chunk, warp ballots and a scan of warp totals.
    long long base = 0;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int64_t c0 = 0; c0 < a.tk; c0 += blockDim.x) {
      const int64_t j = c0 + threadIdx.x;
      const bool flag = j < a.tk && keys[j] != 0;
      const unsigned ballot = __ballot_sync(0xffffffffu, flag);
      if (lane == 0) warp_base[warp] = __popc(ballot);
      __syncthreads();
      if (threadIdx.x == 0) {
        long long acc = 0;
        for (int w = 0; w < warps; ++w) {
          const long long t = warp_base[w];
          warp_base[w] = acc;
          acc += t;
        }
        warp_base[warps] = acc;
      }
      __syncthreads();
      const long long pos = base + warp_base[warp] + __popc(ballot & ((1u << lane) - 1u));
      if (flag && pos < a.slots) out[pos] = static_cast<I>(j);
      base += warp_base[warps];
      __syncthreads();
    }
    for (int64_t s = base + threadIdx.x; s < a.slots; s += blockDim.x) out[s] = static_cast<I>(-1);
    __syncthreads();
  }
}

}  // namespace

void CudaBackend::sparse_select(const SparseSelectParams& p, Tensor& idx, const Tensor& q,
                                const Tensor& k, const Tensor& key_mask, const Tensor& codebooks) {
  require_f32("sparse_select", q, k, codebooks);
  if (key_mask.defined()) require_dtype("sparse_select", key_mask, DType::i32);
  const SparseAttentionParams& a = p.attn;
  const int64_t rows = a.batch * a.heads * a.tq;
  SPT_CHECK(p.subspaces * p.codewords <= kMaxTable, "[sparse_select] ", p.subspaces,
            " sub-spaces x ", p.codewords, " codewords exceed the CUDA kernel's table of ",
            kMaxTable, " entries");
  if (rows == 0) return;
  const DeviceGuard guard(index_);
  const int64_t ncodes = a.batch * a.kv_heads * a.tk * p.subspaces;
  ScratchBuffer codes(allocator_, static_cast<size_t>(std::max<int64_t>(ncodes, 1)));
  if (ncodes > 0) {
    pq_encode_kernel<<<grid_for(ncodes), kThreads, 0, stream()>>>(
        codes.as<uint8_t>(), k.data<float>(), codebooks.data<float>(), a.batch, a.kv_heads, a.tk,
        a.head_dim, p.subspaces, p.codewords);
    SPT_CUDA_CHECK_LAUNCH("pq_encode_kernel");
  }
  const int64_t blocks = std::min<int64_t>(rows, kMaxSelectBlocks);
  ScratchBuffer scratch(allocator_,
                        static_cast<size_t>(std::max<int64_t>(blocks * a.tk, 1)) * sizeof(uint64_t));
  const SelectArgs args{p, a.heads * a.head_dim, a.kv_heads * a.head_dim};
  const size_t smem = static_cast<size_t>(p.subspaces * p.codewords) * (sizeof(float) + 1);
  const int32_t* mask = key_mask.defined() ? key_mask.data<int32_t>() : nullptr;
  if (idx.dtype() == DType::i16)
    sparse_select_kernel<int16_t><<<static_cast<unsigned>(blocks), kSelectThreads, smem, stream()>>>(
        idx.data<int16_t>(), scratch.as<uint64_t>(), q.data<float>(), k.data<float>(), mask,
        codebooks.data<float>(), codes.as<uint8_t>(), args);
  else
    sparse_select_kernel<int32_t><<<static_cast<unsigned>(blocks), kSelectThreads, smem, stream()>>>(
        idx.data<int32_t>(), scratch.as<uint64_t>(), q.data<float>(), k.data<float>(), mask,
        codebooks.data<float>(), codes.as<uint8_t>(), args);
  SPT_CUDA_CHECK_LAUNCH("sparse_select_kernel");
}

}  // namespace spt::cuda
