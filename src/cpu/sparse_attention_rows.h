// The row kernels of CPU sparse attention (see sparse_attention.cpp for the
// formulas): generic rows for any head size and float type, GCC vector-type rows
// for f32 head sizes 32 / 64 / 128, the blocked backward, and the per-ISA
// entry points. Included only by src/cpu/sparse_attention.cpp (internal linkage).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "spt/backend/sparse_attention_math.h"
#include "src/cpu/cpu_backend.h"
#include "src/cpu/v16.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

SPT_INLINE_INTO_CLONES float row_exp(float x) { return vm::fast_exp(x); }
SPT_INLINE_INTO_CLONES double row_exp(double x) { return std::exp(x); }

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

// The number of keys of a row: its list ends at the first -1.
template <class I>
SPT_INLINE_INTO_CLONES int64_t row_length(const I* idx, int64_t L) {
  int64_t n = 0;
  while (n < L && idx[n] >= 0) ++n;
  return n;
}

// max of s[0, n), n > 0 (f32: sixteen lanes at a time; GCC leaves a plain
// max loop a serial chain).
template <class T>
SPT_INLINE_INTO_CLONES T row_max(const T* s, int64_t n) {
  T mx = s[0];
  for (int64_t t = 1; t < n; ++t) mx = s[t] > mx ? s[t] : mx;
  return mx;
}
template <>
SPT_INLINE_INTO_CLONES float row_max(const float* s, int64_t n) {
  int64_t t = 0;
  float mx = s[0];
  if (n >= 16) {
    v16f m = *reinterpret_cast<const v16f*>(s);
    for (t = 16; t + 16 <= n; t += 16) {
      const v16f x = *reinterpret_cast<const v16f*>(s + t);
      m = x > m ? x : m;
    }
    for (int l = 0; l < 16; ++l) mx = m[l] > mx ? m[l] : mx;
  }
  for (; t < n; ++t) mx = s[t] > mx ? s[t] : mx;
  return mx;
}

// Scores s[0, n) become the weights exp(s - lse) (times the dropout factors);
// returns lse. n > 0.
template <class T>
SPT_INLINE_INTO_CLONES T row_softmax(T* __restrict s, int64_t n, const T* fac) {
  const T mx = row_max(s, n);
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t t = 0; t < n; ++t) sum += row_exp(s[t] - mx);
  const T lse = mx + std::log(sum);
  if (fac) {
#pragma omp simd
    for (int64_t t = 0; t < n; ++t) s[t] = row_exp(s[t] - lse) * fac[t];
  } else {
#pragma omp simd
    for (int64_t t = 0; t < n; ++t) s[t] = row_exp(s[t] - lse);
  }
  return lse;
}

// The rows for any head size and float type (f64: the gradient checks); the
// f32 head sizes 32/64/128 use the vector-type rows below.
template <class T, class I>
SPT_INLINE_INTO_CLONES T sparse_fwd_row(T* __restrict out, T* __restrict s, const RowArgs<T, I>& a) {
  const int64_t D = a.D;
  const T* __restrict q = a.q;
  const int64_t n = row_length(a.idx, a.L);
  for (int64_t t = 0; t < n; ++t) {
    const T* __restrict kj = a.k + static_cast<int64_t>(a.idx[t]) * a.ldk;
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t d = 0; d < D; ++d) acc += q[d] * kj[d];
    s[t] = a.scale * acc;
  }
  for (int64_t d = 0; d < D; ++d) out[d] = T(0);
  if (n == 0) return -std::numeric_limits<T>::infinity();
  const T lse = row_softmax(s, n, a.fac);
  for (int64_t t = 0; t < n; ++t) {
    const T w = s[t];
    const T* __restrict vj = a.v + static_cast<int64_t>(a.idx[t]) * a.ldk;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) out[d] += w * vj[d];
  }
  return lse;
}

// One row of the backward: dq_i written, dk/dv rows of the row's keys accumulated.
template <class T, class I>
SPT_INLINE_INTO_CLONES void sparse_bwd_row(T* __restrict dq, T* __restrict dk, T* __restrict dv,
                                           const T* __restrict dout, const T* __restrict out, T lse,
                                           const RowArgs<T, I>& a) {
  const int64_t D = a.D;
  const T* __restrict q = a.q;
  for (int64_t d = 0; d < D; ++d) dq[d] = T(0);
  if (!(lse > -std::numeric_limits<T>::infinity())) return;  // no keys
  const int64_t n = row_length(a.idx, a.L);
  T Di = 0;
#pragma omp simd reduction(+ : Di)
  for (int64_t d = 0; d < D; ++d) Di += dout[d] * out[d];
  for (int64_t t = 0; t < n; ++t) {
    const int64_t j = a.idx[t];
    const T* __restrict kj = a.k + j * a.ldk;
    const T* __restrict vj = a.v + j * a.ldk;
    T qk = 0, gv = 0;
#pragma omp simd reduction(+ : qk, gv)
    for (int64_t d = 0; d < D; ++d) {
      qk += q[d] * kj[d];
      gv += dout[d] * vj[d];
    }
    const T p = row_exp(a.scale * qk - lse);
    const T f = a.fac ? a.fac[t] : T(1);
    const T ds = a.scale * p * (f * gv - Di);
    const T pf = p * f;
    T* __restrict dkj = dk + j * a.ldk;
    T* __restrict dvj = dv + j * a.ldk;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) {
      dq[d] += ds * kj[d];
      dkj[d] += ds * q[d];
      dvj[d] += pf * dout[d];
    }
  }
}

// f32 rows for head sizes that are multiples of 16, written with GCC vector
// types (16 floats: one zmm on AVX-512, two ymm on AVX2): the compiler keeps q,
// dout and the accumulators in registers. (Plain loops over the head dimension
// were interchanged with the loop over keys by GCC and ran scalar.)

// The four sums of p0..p3 (lanes 0, 4, 8, 12 of the result), sharing the shuffles.
SPT_INLINE_INTO_CLONES v16f hsum4(v16f p0, v16f p1, v16f p2, v16f p3) {
  const v16f x01 = SPT_SHUFFLE2(p0, p1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                   SPT_SHUFFLE2(p0, p1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const v16f x23 = SPT_SHUFFLE2(p2, p3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                   SPT_SHUFFLE2(p2, p3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  v16f y = SPT_SHUFFLE2(x01, x23, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           SPT_SHUFFLE2(x01, x23, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  y += SPT_SHUFFLE(y, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  y += SPT_SHUFFLE(y, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  return y;
}

constexpr int64_t kPrefetch = 8;  // keys ahead whose rows are prefetched

template <int NV>
SPT_INLINE_INTO_CLONES void prefetch_row(const float* row) {
  for (int c = 0; c < NV; ++c) __builtin_prefetch(row + 16 * c);
}

// s[t] = scale * q . k_idx[t] for t < n, four keys at a time.
template <int NV, class I>
SPT_INLINE_INTO_CLONES void row_scores_vec(float* __restrict s, const v16f* q, const float* k, int64_t ldk,
                                           const I* idx, int64_t n, float scale) {
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    // The rows are gathered at random: ask for the ones 8 keys ahead now.
    if (t + kPrefetch + 4 <= n)
      for (int u = 0; u < 4; ++u) prefetch_row<NV>(k + static_cast<int64_t>(idx[t + kPrefetch + u]) * ldk);
    const v16f* k0 = reinterpret_cast<const v16f*>(k + static_cast<int64_t>(idx[t]) * ldk);
    const v16f* k1 = reinterpret_cast<const v16f*>(k + static_cast<int64_t>(idx[t + 1]) * ldk);
    const v16f* k2 = reinterpret_cast<const v16f*>(k + static_cast<int64_t>(idx[t + 2]) * ldk);
    const v16f* k3 = reinterpret_cast<const v16f*>(k + static_cast<int64_t>(idx[t + 3]) * ldk);
    v16f a0 = q[0] * k0[0], a1 = q[0] * k1[0], a2 = q[0] * k2[0], a3 = q[0] * k3[0];
    for (int c = 1; c < NV; ++c) {
      a0 += q[c] * k0[c];
      a1 += q[c] * k1[c];
      a2 += q[c] * k2[c];
      a3 += q[c] * k3[c];
    }
    const v16f r = hsum4(a0, a1, a2, a3);
    s[t] = scale * r[0];
    s[t + 1] = scale * r[4];
    s[t + 2] = scale * r[8];
    s[t + 3] = scale * r[12];
  }
  for (; t < n; ++t) {
    const v16f* kj = reinterpret_cast<const v16f*>(k + static_cast<int64_t>(idx[t]) * ldk);
    v16f acc = q[0] * kj[0];
    for (int c = 1; c < NV; ++c) acc += q[c] * kj[c];
    s[t] = scale * hsum(acc);
  }
}

template <int DC, class I>
SPT_INLINE_INTO_CLONES float fwd_row_vec(float* __restrict out, float* __restrict s, const RowArgs<float, I>& a) {
  constexpr int NV = DC / 16;
  const int64_t n = row_length(a.idx, a.L);
  v16f q[NV];
  for (int c = 0; c < NV; ++c) q[c] = reinterpret_cast<const v16f*>(a.q)[c];
  row_scores_vec<NV>(s, q, a.k, a.ldk, a.idx, n, a.scale);
  if (n == 0) {
    for (int64_t d = 0; d < DC; ++d) out[d] = 0.f;
    return -std::numeric_limits<float>::infinity();
  }
  const float lse = row_softmax(s, n, a.fac);
  // Two keys per step into two sets of accumulators: one set is a chain of
  // dependent FMAs that waits on their latency.
  v16f o[NV] = {}, o2[NV] = {};
  int64_t t = 0;
  for (; t + 2 <= n; t += 2) {
    if (t + kPrefetch + 2 <= n) {
      prefetch_row<NV>(a.v + static_cast<int64_t>(a.idx[t + kPrefetch]) * a.ldk);
      prefetch_row<NV>(a.v + static_cast<int64_t>(a.idx[t + kPrefetch + 1]) * a.ldk);
    }
    const float w0 = s[t], w1 = s[t + 1];
    const v16f* v0 = reinterpret_cast<const v16f*>(a.v + static_cast<int64_t>(a.idx[t]) * a.ldk);
    const v16f* v1 = reinterpret_cast<const v16f*>(a.v + static_cast<int64_t>(a.idx[t + 1]) * a.ldk);
    for (int c = 0; c < NV; ++c) {
      o[c] += w0 * v0[c];
      o2[c] += w1 * v1[c];
    }
  }
  if (t < n) {
    const v16f* vj = reinterpret_cast<const v16f*>(a.v + static_cast<int64_t>(a.idx[t]) * a.ldk);
    for (int c = 0; c < NV; ++c) o[c] += s[t] * vj[c];
  }
  for (int c = 0; c < NV; ++c) reinterpret_cast<v16f*>(out)[c] = o[c] + o2[c];
  return lse;
}

template <int DC, class I>
SPT_INLINE_INTO_CLONES void bwd_row_vec(float* __restrict dq, float* __restrict dk, float* __restrict dv,
                                        const float* __restrict dout, const float* __restrict out, float lse,
                                        const RowArgs<float, I>& a, float* __restrict sp, float* __restrict sg) {
  constexpr int NV = DC / 16;
  v16f g[NV] = {};
  if (lse > -std::numeric_limits<float>::infinity()) {
    const int64_t n = row_length(a.idx, a.L);
    v16f q[NV], go[NV];
    v16f dacc = {};
    for (int c = 0; c < NV; ++c) {
      q[c] = reinterpret_cast<const v16f*>(a.q)[c];
      go[c] = reinterpret_cast<const v16f*>(dout)[c];
      dacc += go[c] * reinterpret_cast<const v16f*>(out)[c];
    }
    const float Di = hsum(dacc);
    // P of every key (scores, then one vectorised exp), and dout . v_j.
    row_scores_vec<NV>(sp, q, a.k, a.ldk, a.idx, n, a.scale);
    row_scores_vec<NV>(sg, go, a.v, a.ldk, a.idx, n, 1.f);
#pragma omp simd
    for (int64_t t = 0; t < n; ++t) sp[t] = row_exp(sp[t] - lse);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t j = a.idx[t];
      const v16f* kj = reinterpret_cast<const v16f*>(a.k + j * a.ldk);
      const float p = sp[t];
      const float f = a.fac ? a.fac[t] : 1.f;
      const float ds = a.scale * p * (f * sg[t] - Di);
      const float pf = p * f;
      v16f* dkj = reinterpret_cast<v16f*>(dk + j * a.ldk);
      v16f* dvj = reinterpret_cast<v16f*>(dv + j * a.ldk);
      for (int c = 0; c < NV; ++c) {
        g[c] += ds * kj[c];
        dkj[c] += ds * q[c];
        dvj[c] += pf * go[c];
      }
    }
  }
  for (int c = 0; c < NV; ++c) reinterpret_cast<v16f*>(dq)[c] = g[c];
}

// A block of query rows of one head for the blocked backward (f32, head size DC).
template <class I>
struct BlockArgs {
  const float* q;      // q of the block's first row; rows `ld` apart (also dout, out, dq)
  const float* dout;
  const float* out;
  float* dq;
  const float* lse;    // one per row
  const I* idx;        // rows L apart
  const float* fac;    // rows L apart, or null (no dropout)
  const float* k;      // packed head: rows D apart (also v, dk, dv)
  const float* v;
  float* dk;
  float* dv;
  int64_t rows, ld, L;
  float scale;
};

// Scratch of the blocked backward, per thread: the block's (key, row, dS, P f)
// entries, and the same sorted by key.
struct BlockScratch {
  std::vector<float> sp, sg, ds, pf, sds, spf;
  std::vector<int32_t> key, row, skey, srow, count;
  void reserve(int64_t rows, int64_t L, int64_t tk) {
    sp.resize(static_cast<size_t>(L));
    sg.resize(static_cast<size_t>(L));
    ds.resize(static_cast<size_t>(rows * L));
    pf.resize(ds.size());
    key.resize(ds.size());
    row.resize(ds.size());
    skey.resize(ds.size());
    srow.resize(ds.size());
    sds.resize(ds.size());
    spf.resize(ds.size());
    count.assign(static_cast<size_t>(tk + 1), 0);
  }
};

// Backward of a block of rows: dq written; the dK / dV contributions are
// collected per key (counting sort, stable: row order within a key) and added
// to each key's rows once per block instead of once per (row, key), which cuts
// the scattered read-modify-writes of dk and dv by rows * L / T.
template <int DC, class I>
SPT_INLINE_INTO_CLONES void bwd_block_vec(const BlockArgs<I>& a, BlockScratch& w) {
  constexpr int NV = DC / 16;
  int64_t ne = 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    v16f g[NV] = {};
    const float lse = a.lse[r];
    if (lse > -std::numeric_limits<float>::infinity()) {
      const I* idx = a.idx + r * a.L;
      const float* fac = a.fac ? a.fac + r * a.L : nullptr;
      const int64_t n = row_length(idx, a.L);
      v16f q[NV], go[NV];
      v16f dacc = {};
      for (int c = 0; c < NV; ++c) {
        q[c] = reinterpret_cast<const v16f*>(a.q + r * a.ld)[c];
        go[c] = reinterpret_cast<const v16f*>(a.dout + r * a.ld)[c];
        dacc += go[c] * reinterpret_cast<const v16f*>(a.out + r * a.ld)[c];
      }
      const float Di = hsum(dacc);
      float* sp = w.sp.data();
      float* sg = w.sg.data();
      float* ds = w.ds.data() + ne;
      float* pf = w.pf.data() + ne;
      // Chunks of 16 keys: P, dP . f, dS and P f, then dq += dS_j k_j in two
      // sets of accumulators (one set is a chain of dependent FMAs) while the
      // chunk's k rows are still in L1 (one gather of k instead of two).
      v16f g2[NV] = {};
      for (int64_t t0 = 0; t0 < n; t0 += 16) {
        const int64_t t1 = std::min<int64_t>(n, t0 + 16);
        row_scores_vec<NV>(sp + t0, q, a.k, DC, idx + t0, t1 - t0, a.scale);
        row_scores_vec<NV>(sg + t0, go, a.v, DC, idx + t0, t1 - t0, 1.f);
#pragma omp simd
        for (int64_t t = t0; t < t1; ++t) {
          const float p = row_exp(sp[t] - lse);
          const float f = fac ? fac[t] : 1.f;
          ds[t] = a.scale * p * (f * sg[t] - Di);
          pf[t] = p * f;
        }
        int64_t t = t0;
        for (; t + 2 <= t1; t += 2) {
          const v16f* k0 = reinterpret_cast<const v16f*>(a.k + static_cast<int64_t>(idx[t]) * DC);
          const v16f* k1 = reinterpret_cast<const v16f*>(a.k + static_cast<int64_t>(idx[t + 1]) * DC);
          for (int c = 0; c < NV; ++c) {
            g[c] += ds[t] * k0[c];
            g2[c] += ds[t + 1] * k1[c];
          }
        }
        if (t < t1) {
          const v16f* kj = reinterpret_cast<const v16f*>(a.k + static_cast<int64_t>(idx[t]) * DC);
          for (int c = 0; c < NV; ++c) g[c] += ds[t] * kj[c];
        }
      }
      for (int c = 0; c < NV; ++c) g[c] += g2[c];
      for (int64_t t = 0; t < n; ++t) {
        w.key[ne + t] = static_cast<int32_t>(idx[t]);
        w.row[ne + t] = static_cast<int32_t>(r);
      }
      ne += n;
    }
    for (int c = 0; c < NV; ++c) reinterpret_cast<v16f*>(a.dq + r * a.ld)[c] = g[c];
  }
  // Counting sort of the entries by key.
  int32_t* cnt = w.count.data();
  for (int64_t e = 0; e < ne; ++e) ++cnt[w.key[e] + 1];
  // Prefix sums over the keys present only: walk the entries' keys in key order
  // by accumulating into the slots; keys absent keep count 0.
  int32_t run = 0;
  const int64_t tk = static_cast<int64_t>(w.count.size()) - 1;
  for (int64_t j = 0; j <= tk; ++j) {
    const int32_t c = cnt[j];
    cnt[j] = run;
    run += c;
  }
  // The entries move to their sorted places, so that the sums below read them
  // in sequence.
  int32_t* skey = w.skey.data();
  int32_t* srow = w.srow.data();
  float* sds = w.sds.data();
  float* spf = w.spf.data();
  for (int64_t e = 0; e < ne; ++e) {
    const int32_t pos = cnt[w.key[e] + 1]++;
    skey[pos] = w.key[e];
    srow[pos] = w.row[e];
    sds[pos] = w.ds[e];
    spf[pos] = w.pf[e];
  }
  // Per key: sum its entries, then one update of its dk / dv rows.
  for (int64_t o = 0; o < ne;) {
    const int32_t j = skey[o];
    v16f ak[NV] = {}, av[NV] = {};
    for (; o < ne && skey[o] == j; ++o) {
      const int64_t r = srow[o];
      const v16f* qr = reinterpret_cast<const v16f*>(a.q + r * a.ld);
      const v16f* gr = reinterpret_cast<const v16f*>(a.dout + r * a.ld);
      const float ds = sds[o], pf = spf[o];
      for (int c = 0; c < NV; ++c) {
        ak[c] += ds * qr[c];
        av[c] += pf * gr[c];
      }
    }
    v16f* dkj = reinterpret_cast<v16f*>(a.dk + static_cast<int64_t>(j) * DC);
    v16f* dvj = reinterpret_cast<v16f*>(a.dv + static_cast<int64_t>(j) * DC);
    for (int c = 0; c < NV; ++c) {
      dkj[c] += ak[c];
      dvj[c] += av[c];
    }
  }
  std::fill(w.count.begin(), w.count.end(), 0);
}

template <int DC, class I>
SPT_INLINE_INTO_CLONES float fwd_row_f32(float* out, float* s, const RowArgs<float, I>& a) {
  if constexpr (DC > 0) return fwd_row_vec<DC>(out, s, a);
  else return sparse_fwd_row(out, s, a);
}
template <int DC, class I>
SPT_INLINE_INTO_CLONES void bwd_row_f32(float* dq, float* dk, float* dv, const float* dout, const float* out,
                                        float lse, const RowArgs<float, I>& a) {
  if constexpr (DC > 0) {
    float sp[4096], sg[4096];  // L <= 4096 on this path (bwd_kernel)
    bwd_row_vec<DC>(dq, dk, dv, dout, out, lse, a, sp, sg);
  }
  else sparse_bwd_row(dq, dk, dv, dout, out, lse, a);
}

// f32 rows compiled per ISA, one entry per (index type, head size).
#define SPT_SPARSE_ROWS(I, DC)                                                                          \
  SPT_SIMD_CLONES float fwd_f32_##I##_##DC(float* out, float* s, const RowArgs<float, I##_t>& a) {       \
    return fwd_row_f32<DC>(out, s, a);                                                                  \
  }                                                                                                     \
  SPT_SIMD_CLONES void bwd_f32_##I##_##DC(float* dq, float* dk, float* dv, const float* dout,           \
                                          const float* out, float lse, const RowArgs<float, I##_t>& a) { \
    bwd_row_f32<DC>(dq, dk, dv, dout, out, lse, a);                                                     \
  }
SPT_SPARSE_ROWS(int16, 0)
SPT_SPARSE_ROWS(int16, 32)
SPT_SPARSE_ROWS(int16, 64)
SPT_SPARSE_ROWS(int16, 128)
SPT_SPARSE_ROWS(int32, 0)
SPT_SPARSE_ROWS(int32, 32)
SPT_SPARSE_ROWS(int32, 64)
SPT_SPARSE_ROWS(int32, 128)
#undef SPT_SPARSE_ROWS

SPT_SIMD_CLONES void bwd_block_f32_int16_32(const BlockArgs<int16_t>& a, BlockScratch& w) { bwd_block_vec<32>(a, w); }
SPT_SIMD_CLONES void bwd_block_f32_int16_64(const BlockArgs<int16_t>& a, BlockScratch& w) { bwd_block_vec<64>(a, w); }
SPT_SIMD_CLONES void bwd_block_f32_int16_128(const BlockArgs<int16_t>& a, BlockScratch& w) { bwd_block_vec<128>(a, w); }
SPT_SIMD_CLONES void bwd_block_f32_int32_32(const BlockArgs<int32_t>& a, BlockScratch& w) { bwd_block_vec<32>(a, w); }
SPT_SIMD_CLONES void bwd_block_f32_int32_64(const BlockArgs<int32_t>& a, BlockScratch& w) { bwd_block_vec<64>(a, w); }
SPT_SIMD_CLONES void bwd_block_f32_int32_128(const BlockArgs<int32_t>& a, BlockScratch& w) { bwd_block_vec<128>(a, w); }

template <class I>
using BwdBlock = void (*)(const BlockArgs<I>&, BlockScratch&);

// The blocked backward for head sizes 32, 64, 128 (null: use the row kernels).
template <class I>
BwdBlock<I> bwd_block_kernel(int64_t D, int64_t L) {
  if (L > 4096) return nullptr;
  if constexpr (std::is_same_v<I, int16_t>)
    return D == 32 ? bwd_block_f32_int16_32 : D == 64 ? bwd_block_f32_int16_64 : D == 128 ? bwd_block_f32_int16_128 : nullptr;
  else
    return D == 32 ? bwd_block_f32_int32_32 : D == 64 ? bwd_block_f32_int32_64 : D == 128 ? bwd_block_f32_int32_128 : nullptr;
}

template <class I>
using FwdRow = float (*)(float*, float*, const RowArgs<float, I>&);
template <class I>
using BwdRow = void (*)(float*, float*, float*, const float*, const float*, float, const RowArgs<float, I>&);

template <class I>
FwdRow<I> fwd_kernel(int64_t D) {
  if constexpr (std::is_same_v<I, int16_t>)
    return D == 32 ? fwd_f32_int16_32 : D == 64 ? fwd_f32_int16_64 : D == 128 ? fwd_f32_int16_128 : fwd_f32_int16_0;
  else
    return D == 32 ? fwd_f32_int32_32 : D == 64 ? fwd_f32_int32_64 : D == 128 ? fwd_f32_int32_128 : fwd_f32_int32_0;
}
template <class I>
BwdRow<I> bwd_kernel(int64_t D, int64_t L) {
  if (L > 4096) D = 0;  // the vector rows keep 2 L floats on the stack
  if constexpr (std::is_same_v<I, int16_t>)
    return D == 32 ? bwd_f32_int16_32 : D == 64 ? bwd_f32_int16_64 : D == 128 ? bwd_f32_int16_128 : bwd_f32_int16_0;
  else
    return D == 32 ? bwd_f32_int32_32 : D == 64 ? bwd_f32_int32_64 : D == 128 ? bwd_f32_int32_128 : bwd_f32_int32_0;
}

// The dropout factors of row (b, h, i)'s keys into fac (null when p = 0).
template <class T, class I>
const T* row_factors(std::vector<T>& fac, std::vector<uint64_t>& elems, const SparseAttentionParams& p,
                     const I* idx, int64_t b, int64_t h, int64_t i) {
  if (p.dropout.p <= 0.f) return nullptr;
  const int64_t n = row_length(idx, p.slots);
  for (int64_t t = 0; t < n; ++t) elems[t] = p.dropout.base + sparse::dropout_index(b, h, i, idx[t], p.heads, p.tq, p.tk);
  if constexpr (std::is_same_v<T, float>) {
    dropout_factors_f32(p.dropout, fac.data(), elems.data(), n);
  } else {
    for (int64_t t = 0; t < n; ++t)
      fac[t] = sparse::dropout_factor(p.dropout.seed, p.dropout.offset, elems[t], p.dropout.p);
  }
  return fac.data();
}

}  // namespace

}  // namespace spt::cpu
