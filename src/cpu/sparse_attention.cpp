// CPU attention on per-query key lists (the pattern chosen by sparse_select).
//
// Forward, per query row i of head h (key/value head g = h / (H / Hk)):
//   s_j = scale q_i . k_j for the row's keys j,  lse_i = log sum_j exp(s_j),
//   P_j = exp(s_j - lse_i),  out_i = sum_j f_ij P_j v_j,
// f_ij the dropout factor of dense element (b, h, i, j) (0 or 1 / (1 - p)).
// Backward with the pattern fixed, recomputing s and P from q, k and lse
// (FlashAttention's recomputation: only idx and lse are kept):
//   D_i = dout_i . out_i  (= sum_j P_j dP_j),  dP_j = f_ij dout_i . v_j,
//   dS_j = P_j (dP_j - D_i),
//   dq_i = scale sum_j dS_j k_j,  dk_j += scale dS_j q_i,  dv_j += f_ij P_j dout_i.
// dq, dk and dv are written (=). The backward runs one task per (b, g): the task
// owns that head's dk and dv rows and walks its query heads and rows in a fixed
// order, so the sums are race-free and bit-identical at any thread count,
// without per-thread copies.
//
// The row kernels are instantiated for head sizes 32, 64 and 128 (the loops over
// the head dimension then have a constant trip count, and q, dout and the
// accumulators stay in registers) and for any other size; f32 rows are compiled
// per ISA (SIMD clones), f64 rows (gradient checks) use the same templates.
#include <cmath>
#include <limits>
#include <vector>

#include "spt/backend/sparse_attention_math.h"
#include "src/cpu/cpu_backend.h"
#include "src/cpu/sparse_attention_rows.h"

namespace spt::cpu {

namespace {

constexpr int64_t kBlockRows = 32;  // query rows per block of the blocked backward

// Heads H (query), Hk (key/value), G = H / Hk, head size D, slots L, row widths
// C = H D (q) and ldk = Hk D (k, v).
struct TaskDims {
  int64_t H, Hk, G, D, L, C, ldk;
};
TaskDims task_dims(const SparseAttentionParams& p) {
  return {p.heads, p.kv_heads, p.heads / p.kv_heads, p.head_dim, p.slots, p.heads * p.head_dim,
          p.kv_heads * p.head_dim};
}

// Copies head g's rows (T, D) of a (B, T, Hk*D) tensor's batch item into a
// contiguous buffer: the gathers of a row then touch T*D*4 bytes in a few pages
// instead of T rows spread over T*Hk*D*4 bytes (TLB and cache misses).
template <class T>
void pack_head(T* dst, const T* src, int64_t rows, int64_t D, int64_t ld) {
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t d = 0; d < D; ++d) dst[j * D + d] = src[j * ld + d];
}

}  // namespace

// Both passes run one task per (b, g): the task packs that head's k and v
// (2 T D floats of scratch per thread, 4 T D in backward with the dk / dv
// accumulators), then walks its query heads and rows in order.
void CpuBackend::sparse_attention_fwd(const SparseAttentionParams& p, Tensor& out, Tensor& lse,
                                      const Tensor& q, const Tensor& k, const Tensor& v,
                                      const Tensor& idx) {
  dispatch_float(q.dtype(), "sparse_attention", [&](auto tag) {
    using T = decltype(tag);
    dispatch_index(idx, [&](auto itag) {
      using I = decltype(itag);
      // Named copies, not a structured binding: OpenMP regions capture them (clang).
      const TaskDims dims = task_dims(p);
      [[maybe_unused]] const int64_t H = dims.H, Hk = dims.Hk, G = dims.G, D = dims.D, L = dims.L, C = dims.C, ldk = dims.ldk;
      const T *qs = q.data<T>(), *ks = k.data<T>(), *vs = v.data<T>();
      const I* is = idx.data<I>();
      T *os = out.data<T>(), *ls = lse.data<T>();
      const int64_t tasks = p.batch * Hk;
#pragma omp parallel if (tasks > 1 && p.batch * H * p.tq * L * D > 65536)
      {
        std::vector<T> s(static_cast<size_t>(L)), fac(static_cast<size_t>(L));
        std::vector<T> kp(static_cast<size_t>(p.tk * D)), vp(static_cast<size_t>(p.tk * D));
        std::vector<uint64_t> elems(static_cast<size_t>(L));
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; ++task) {
          const int64_t b = task / Hk, g = task % Hk;
          pack_head(kp.data(), ks + b * p.tk * ldk + g * D, p.tk, D, ldk);
          pack_head(vp.data(), vs + b * p.tk * ldk + g * D, p.tk, D, ldk);
          for (int64_t h = g * G; h < (g + 1) * G; ++h)
            for (int64_t i = 0; i < p.tq; ++i) {
              const int64_t r = (b * H + h) * p.tq + i;
              const I* ir = is + r * L;
              const RowArgs<T, I> a{qs + (b * p.tq + i) * C + h * D, kp.data(), vp.data(), ir,
                                    row_factors(fac, elems, p, ir, b, h, i), D, D, L, static_cast<T>(p.scale)};
              T* o = os + (b * p.tq + i) * C + h * D;
              if constexpr (std::is_same_v<T, float>) ls[r] = fwd_kernel<I>(D)(o, s.data(), a);
              else ls[r] = sparse_fwd_row(o, s.data(), a);
            }
        }
      }
    });
  });
}

void CpuBackend::sparse_attention_bwd(const SparseAttentionParams& p, Tensor& dq, Tensor& dk,
                                      Tensor& dv, const Tensor& dout, const Tensor& q,
                                      const Tensor& k, const Tensor& v, const Tensor& out,
                                      const Tensor& lse, const Tensor& idx) {
  dispatch_float(q.dtype(), "sparse_attention", [&](auto tag) {
    using T = decltype(tag);
    dispatch_index(idx, [&](auto itag) {
      using I = decltype(itag);
      // Named copies, not a structured binding: OpenMP regions capture them (clang).
      const TaskDims dims = task_dims(p);
      [[maybe_unused]] const int64_t H = dims.H, Hk = dims.Hk, G = dims.G, D = dims.D, L = dims.L, C = dims.C, ldk = dims.ldk;
      const T *qs = q.data<T>(), *ks = k.data<T>(), *vs = v.data<T>();
      const T *gs = dout.data<T>(), *os = out.data<T>(), *ls = lse.data<T>();
      const I* is = idx.data<I>();
      T *dqs = dq.data<T>(), *dks = dk.data<T>(), *dvs = dv.data<T>();
      const int64_t tasks = p.batch * Hk;
#pragma omp parallel if (tasks > 1 && p.batch * H * p.tq * L * D > 65536)
      {
        std::vector<T> fac(static_cast<size_t>(L));
        std::vector<T> kp(static_cast<size_t>(p.tk * D)), vp(static_cast<size_t>(p.tk * D));
        std::vector<T> dkp(static_cast<size_t>(p.tk * D)), dvp(static_cast<size_t>(p.tk * D));
        std::vector<uint64_t> elems(static_cast<size_t>(L));
        std::vector<float> block_fac(static_cast<size_t>(kBlockRows * L));
        BlockScratch scratch;
        scratch.reserve(kBlockRows, L, p.tk);
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; ++task) {
          const int64_t b = task / Hk, g = task % Hk;
          pack_head(kp.data(), ks + b * p.tk * ldk + g * D, p.tk, D, ldk);
          pack_head(vp.data(), vs + b * p.tk * ldk + g * D, p.tk, D, ldk);
          std::fill(dkp.begin(), dkp.end(), T(0));
          std::fill(dvp.begin(), dvp.end(), T(0));
          for (int64_t h = g * G; h < (g + 1) * G; ++h) {
            if constexpr (std::is_same_v<T, float>) {
              if (const BwdBlock<I> blk = bwd_block_kernel<I>(D, L)) {
                for (int64_t i0 = 0; i0 < p.tq; i0 += kBlockRows) {
                  const int64_t n = std::min<int64_t>(kBlockRows, p.tq - i0);
                  const int64_t r0 = (b * H + h) * p.tq + i0;
                  const int64_t off = (b * p.tq + i0) * C + h * D;
                  const float* facs = nullptr;
                  if (p.dropout.p > 0.f) {
                    for (int64_t r = 0; r < n; ++r) {
                      row_factors(fac, elems, p, is + (r0 + r) * L, b, h, i0 + r);
                      std::copy(fac.begin(), fac.end(), block_fac.begin() + r * L);
                    }
                    facs = block_fac.data();
                  }
                  const BlockArgs<I> a{qs + off, gs + off, os + off, dqs + off, ls + r0, is + r0 * L, facs,
                                       kp.data(), vp.data(), dkp.data(), dvp.data(), n, C, L, p.scale};
                  blk(a, scratch);
                }
                continue;
              }
            }
            for (int64_t i = 0; i < p.tq; ++i) {
              const int64_t r = (b * H + h) * p.tq + i;
              const int64_t off = (b * p.tq + i) * C + h * D;
              const I* ir = is + r * L;
              const RowArgs<T, I> a{qs + off, kp.data(), vp.data(), ir, row_factors(fac, elems, p, ir, b, h, i),
                                    D, D, L, static_cast<T>(p.scale)};
              if constexpr (std::is_same_v<T, float>)
                bwd_kernel<I>(D, L)(dqs + off, dkp.data(), dvp.data(), gs + off, os + off, ls[r], a);
              else
                sparse_bwd_row(dqs + off, dkp.data(), dvp.data(), gs + off, os + off, ls[r], a);
            }
          }
          T* dk0 = dks + b * p.tk * ldk + g * D;
          T* dv0 = dvs + b * p.tk * ldk + g * D;
          for (int64_t j = 0; j < p.tk; ++j)
            for (int64_t d = 0; d < D; ++d) {
              dk0[j * ldk + d] = dkp[j * D + d];
              dv0[j * ldk + d] = dvp[j * D + d];
            }
        }
      }
    });
  });
}

}  // namespace spt::cpu
