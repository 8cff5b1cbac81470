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
#include <cmath>
#include <limits>
#include <vector>

#include "spt/backend/sparse_attention_math.h"
#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

SPT_INLINE_INTO_CLONES float row_exp(float x) { return vm::fast_exp(x); }
SPT_INLINE_INTO_CLONES double row_exp(double x) { return std::exp(x); }

template <class T>
SPT_INLINE_INTO_CLONES T dot(const T* a, const T* b, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

template <class T>
SPT_INLINE_INTO_CLONES void axpy_row(T* y, T a, const T* x, int64_t n) {
#pragma omp simd
  for (int64_t d = 0; d < n; ++d) y[d] += a * x[d];
}

// Everything a row needs: base pointers of the (b, h) / (b, g) slices and strides.
template <class T, class I>
struct RowArgs {
  const T* q;     // q_i
  const T* k;     // k_0 of head g (row stride ldk)
  const T* v;     // v_0 of head g (row stride ldk)
  const I* idx;   // L slots
  const T* fac;   // L dropout factors or null
  int64_t ldk, D, L;
  T scale;
};

// Scores of the row's keys into s (returns the number of keys n; the list ends
// at the first -1).
template <class T, class I>
SPT_INLINE_INTO_CLONES int64_t row_scores(T* s, const RowArgs<T, I>& a) {
  int64_t n = 0;
  while (n < a.L && a.idx[n] >= 0) {
    s[n] = a.scale * dot(a.q, a.k + static_cast<int64_t>(a.idx[n]) * a.ldk, a.D);
    ++n;
  }
  return n;
}

template <class T, class I>
SPT_INLINE_INTO_CLONES T sparse_fwd_row(T* out, T* s, const RowArgs<T, I>& a) {
  for (int64_t d = 0; d < a.D; ++d) out[d] = T(0);
  const int64_t n = row_scores(s, a);
  if (n == 0) return -std::numeric_limits<T>::infinity();
  T mx = s[0];
  for (int64_t t = 1; t < n; ++t) mx = s[t] > mx ? s[t] : mx;
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t t = 0; t < n; ++t) sum += row_exp(s[t] - mx);
  const T lse = mx + std::log(sum);
#pragma omp simd
  for (int64_t t = 0; t < n; ++t) s[t] = row_exp(s[t] - lse);
  for (int64_t t = 0; t < n; ++t) {
    const T w = a.fac ? s[t] * a.fac[t] : s[t];
    if (w != T(0)) axpy_row(out, w, a.v + static_cast<int64_t>(a.idx[t]) * a.ldk, a.D);
  }
  return lse;
}

// One row of the backward: dq_i written, dk/dv rows of the row's keys accumulated.
template <class T, class I>
SPT_INLINE_INTO_CLONES void sparse_bwd_row(T* dq, T* dk, T* dv, T* s, const T* dout, const T* out,
                                           T lse, const RowArgs<T, I>& a) {
  for (int64_t d = 0; d < a.D; ++d) dq[d] = T(0);
  if (!(lse > -std::numeric_limits<T>::infinity())) return;  // no keys
  const int64_t n = row_scores(s, a);
  const T Di = dot(dout, out, a.D);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t j = a.idx[t];
    const T p = row_exp(s[t] - lse);
    const T f = a.fac ? a.fac[t] : T(1);
    const T dp = f * dot(dout, a.v + j * a.ldk, a.D);
    const T ds = a.scale * p * (dp - Di);
    axpy_row(dq, ds, a.k + j * a.ldk, a.D);
    axpy_row(dk + j * a.ldk, ds, a.q, a.D);
    if (f != T(0)) axpy_row(dv + j * a.ldk, f * p, dout, a.D);
  }
}

SPT_SIMD_CLONES float sparse_fwd_row_f32_i16(float* out, float* s, const RowArgs<float, int16_t>& a) {
  return sparse_fwd_row(out, s, a);
}
SPT_SIMD_CLONES float sparse_fwd_row_f32_i32(float* out, float* s, const RowArgs<float, int32_t>& a) {
  return sparse_fwd_row(out, s, a);
}
SPT_SIMD_CLONES void sparse_bwd_row_f32_i16(float* dq, float* dk, float* dv, float* s,
                                            const float* dout, const float* out, float lse,
                                            const RowArgs<float, int16_t>& a) {
  sparse_bwd_row(dq, dk, dv, s, dout, out, lse, a);
}
SPT_SIMD_CLONES void sparse_bwd_row_f32_i32(float* dq, float* dk, float* dv, float* s,
                                            const float* dout, const float* out, float lse,
                                            const RowArgs<float, int32_t>& a) {
  sparse_bwd_row(dq, dk, dv, s, dout, out, lse, a);
}

template <class T, class I>
T fwd_row(T* out, T* s, const RowArgs<T, I>& a) {
  if constexpr (std::is_same_v<T, float> && std::is_same_v<I, int16_t>)
    return sparse_fwd_row_f32_i16(out, s, a);
  else if constexpr (std::is_same_v<T, float>)
    return sparse_fwd_row_f32_i32(out, s, a);
  else
    return sparse_fwd_row(out, s, a);
}

template <class T, class I>
void bwd_row(T* dq, T* dk, T* dv, T* s, const T* dout, const T* out, T lse,
             const RowArgs<T, I>& a) {
  if constexpr (std::is_same_v<T, float> && std::is_same_v<I, int16_t>)
    sparse_bwd_row_f32_i16(dq, dk, dv, s, dout, out, lse, a);
  else if constexpr (std::is_same_v<T, float>)
    sparse_bwd_row_f32_i32(dq, dk, dv, s, dout, out, lse, a);
  else
    sparse_bwd_row(dq, dk, dv, s, dout, out, lse, a);
}

// Calls f(I{}) for the index tensor's dtype (i16 or i32).
template <class F>
void dispatch_index(const Tensor& idx, F&& f) {
  if (idx.dtype() == DType::i16) f(int16_t{});
  else f(int32_t{});
}

// Fills fac[0..n) with the dropout factors of row (b, h, i)'s keys.
template <class T, class I>
const T* row_factors(std::vector<T>& fac, const SparseAttentionParams& p, const I* idx, int64_t b,
                     int64_t h, int64_t i) {
  if (p.dropout.p <= 0.f) return nullptr;
  for (int64_t t = 0; t < p.slots; ++t) {
    const int64_t j = idx[t];
    fac[t] = j < 0 ? T(0)
                   : static_cast<T>(sparse::dropout_factor(
                         p.dropout.seed, p.dropout.offset,
                         sparse::dropout_index(b, h, i, j, p.heads, p.tq, p.tk), p.dropout.p));
  }
  return fac.data();
}

}  // namespace

void CpuBackend::sparse_attention_fwd(const SparseAttentionParams& p, Tensor& out, Tensor& lse,
                                      const Tensor& q, const Tensor& k, const Tensor& v,
                                      const Tensor& idx) {
  dispatch_float(q.dtype(), "sparse_attention", [&](auto tag) {
    using T = decltype(tag);
    dispatch_index(idx, [&](auto itag) {
      using I = decltype(itag);
      const int64_t H = p.heads, G = H / p.kv_heads, D = p.head_dim, L = p.slots;
      const int64_t C = H * D, ldk = p.kv_heads * D;
      const T *qs = q.data<T>(), *ks = k.data<T>(), *vs = v.data<T>();
      const I* is = idx.data<I>();
      T *os = out.data<T>(), *ls = lse.data<T>();
      const int64_t rows = p.batch * H * p.tq;
#pragma omp parallel if (rows * L * D > 65536)
      {
        std::vector<T> s(static_cast<size_t>(L)), fac(static_cast<size_t>(L));
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t b = r / (H * p.tq), h = (r / p.tq) % H, i = r % p.tq, g = h / G;
          const I* ir = is + r * L;
          const RowArgs<T, I> a{qs + (b * p.tq + i) * C + h * D, ks + b * p.tk * ldk + g * D,
                                vs + b * p.tk * ldk + g * D, ir, row_factors(fac, p, ir, b, h, i),
                                ldk, D, L, static_cast<T>(p.scale)};
          ls[r] = fwd_row(os + (b * p.tq + i) * C + h * D, s.data(), a);
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
      const int64_t H = p.heads, Hk = p.kv_heads, G = H / Hk, D = p.head_dim, L = p.slots;
      const int64_t C = H * D, ldk = Hk * D;
      const T *qs = q.data<T>(), *ks = k.data<T>(), *vs = v.data<T>();
      const T *gs = dout.data<T>(), *os = out.data<T>(), *ls = lse.data<T>();
      const I* is = idx.data<I>();
      T *dqs = dq.data<T>(), *dks = dk.data<T>(), *dvs = dv.data<T>();
      const int64_t tasks = p.batch * Hk;
#pragma omp parallel if (tasks > 1 && p.batch * H * p.tq * L * D > 65536)
      {
        std::vector<T> s(static_cast<size_t>(L)), fac(static_cast<size_t>(L));
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; ++task) {
          const int64_t b = task / Hk, g = task % Hk;
          T* dk0 = dks + b * p.tk * ldk + g * D;
          T* dv0 = dvs + b * p.tk * ldk + g * D;
          for (int64_t j = 0; j < p.tk; ++j)
            for (int64_t d = 0; d < D; ++d) dk0[j * ldk + d] = dv0[j * ldk + d] = T(0);
          for (int64_t h = g * G; h < (g + 1) * G; ++h) {
            for (int64_t i = 0; i < p.tq; ++i) {
              const int64_t r = (b * H + h) * p.tq + i;
              const int64_t off = (b * p.tq + i) * C + h * D;
              const I* ir = is + r * L;
              const RowArgs<T, I> a{qs + off, ks + b * p.tk * ldk + g * D,
                                    vs + b * p.tk * ldk + g * D, ir,
                                    row_factors(fac, p, ir, b, h, i), ldk, D, L,
                                    static_cast<T>(p.scale)};
              bwd_row(dqs + off, dk0, dv0, s.data(), gs + off, os + off, ls[r], a);
            }
          }
        }
      }
    });
  });
}

}  // namespace spt::cpu
