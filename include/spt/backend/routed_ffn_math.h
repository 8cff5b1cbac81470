// Routing of the routed FFN, one token at a time, shared by the CPU and CUDA
// backends (__host__ __device__; see RouteParams in spt/backend/backend.h).
//
// Forward: the k largest of the token's `blocks` logits l (ties: the smaller
// block; a NaN logit is never preferred to a number), listed in increasing block
// order as sel_0 < ... < sel_{k-1}; gates, scaled so that equal (or zero)
// logits give every kept block gate 1, i.e. the dense FFN's own weighting (a
// router that starts with small logits starts from the pretrained function):
//   sigmoid: g_t = 2 / (1 + exp(-l_{sel_t}))                       in (0, 2)
//   softmax: g_t = k exp(l_{sel_t} - m) / sum_u exp(l_{sel_u} - m),  m = max_u l_{sel_u}
// Backward (the choice is piecewise constant, so only the kept logits move):
//   sigmoid: dl_{sel_t} = dg_t g_t (1 - g_t / 2)
//   softmax: dl_{sel_t} = g_t (dg_t - sum_u g_u dg_u / k)
// and dl = 0 at the blocks not kept.
#pragma once

#include <cmath>
#include <cstdint>

#include "spt/backend/philox.h"  // SPT_HD

namespace spt::route {

template <class T>
SPT_HD T route_exp(T x) {
#if defined(__CUDA_ARCH__)
  return exp(x);
#else
  return std::exp(x);
#endif
}

template <class T>
SPT_HD void route_row(int32_t* sel, T* gates, const T* l, int64_t blocks, int64_t k, bool softmax) {
  // Choose: k passes over the blocks (blocks and k are small).
  uint64_t taken_lo = 0, taken_hi = 0;  // blocks < 128 as bits (checked at the op boundary)
  for (int64_t t = 0; t < k; ++t) {
    int64_t best = -1;
    for (int64_t b = 0; b < blocks; ++b) {
      const bool taken = b < 64 ? ((taken_lo >> b) & 1u) : ((taken_hi >> (b - 64)) & 1u);
      if (taken) continue;
      if (best < 0 || l[b] > l[best] || (l[best] != l[best] && l[b] == l[b])) best = b;
    }
    if (best < 64) taken_lo |= uint64_t{1} << best;
    else taken_hi |= uint64_t{1} << (best - 64);
  }
  int64_t t = 0;  // increasing block order
  for (int64_t b = 0; b < blocks; ++b) {
    const bool taken = b < 64 ? ((taken_lo >> b) & 1u) : ((taken_hi >> (b - 64)) & 1u);
    if (taken) sel[t++] = static_cast<int32_t>(b);
  }
  if (!softmax) {
    for (t = 0; t < k; ++t) gates[t] = T(2) / (T(1) + route_exp(-l[sel[t]]));
    return;
  }
  T m = l[sel[0]];
  for (t = 1; t < k; ++t) m = l[sel[t]] > m ? l[sel[t]] : m;
  T sum = 0;
  for (t = 0; t < k; ++t) {
    gates[t] = route_exp(l[sel[t]] - m);
    sum += gates[t];
  }
  for (t = 0; t < k; ++t) gates[t] *= T(k) / sum;
}

template <class T>
SPT_HD void route_row_bwd(T* dl, const T* dg, const T* g, const int32_t* sel, int64_t blocks, int64_t k,
                          bool softmax) {
  for (int64_t b = 0; b < blocks; ++b) dl[b] = T(0);
  if (!softmax) {
    for (int64_t t = 0; t < k; ++t) dl[sel[t]] = dg[t] * g[t] * (T(1) - g[t] / T(2));
    return;
  }
  T s = 0;
  for (int64_t t = 0; t < k; ++t) s += g[t] * dg[t];
  s /= T(k);
  for (int64_t t = 0; t < k; ++t) dl[sel[t]] = g[t] * (dg[t] - s);
}

}  // namespace spt::route
