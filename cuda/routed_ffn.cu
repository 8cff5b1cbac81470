// CUDA routing of the routed FFN, as src/cpu/routed_ffn.cpp (formulas in
// spt/backend/routed_ffn_math.h): one thread per token for the router's top-k
// and its backward; the grouping by block is a stable radix sort of the entries
// by block (CUB), so each block lists its entries in increasing e as on the CPU,
// with the offsets from per-block counts. Gathers, the gated combine (each
// output row summed over its slots in a fixed order) and the gate gradient run
// one block per row.
#include <cub/device/device_radix_sort.cuh>

#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "device/reduce.cuh"
#include "launch.h"
#include "spt/backend/routed_ffn_math.h"

namespace spt::cuda {

namespace {

__global__ void route_fwd_kernel(int32_t* sel, float* gates, const float* logits, RouteParams p) {
  for (int64_t n = device::first_index(); n < p.tokens; n += device::index_stride())
    route::route_row(sel + n * p.active, gates + n * p.active, logits + n * p.blocks, p.blocks, p.active,
                     p.gate == RouteGate::softmax);
}

__global__ void route_bwd_kernel(float* dlogits, const float* dgates, const float* gates, const int32_t* sel,
                                 RouteParams p) {
  for (int64_t n = device::first_index(); n < p.tokens; n += device::index_stride())
    route::route_row_bwd(dlogits + n * p.blocks, dgates + n * p.active, gates + n * p.active, sel + n * p.active,
                         p.blocks, p.active, p.gate == RouteGate::softmax);
}

// counts[b + 1] = entries of block b (counts zeroed first); values[e] = e.
__global__ void group_count_kernel(int32_t* counts, int32_t* values, const int32_t* sel, int64_t n) {
  for (int64_t e = device::first_index(); e < n; e += device::index_stride()) {
    atomicAdd(counts + sel[e] + 1, 1);
    values[e] = static_cast<int32_t>(e);
  }
}

__global__ void group_offsets_kernel(int32_t* offsets, int64_t blocks) {
  if (blockIdx.x == 0 && threadIdx.x == 0)
    for (int64_t b = 0; b < blocks; ++b) offsets[b + 1] += offsets[b];
}

__global__ void group_pos_kernel(int32_t* pos, const int32_t* order, int64_t n) {
  for (int64_t r = device::first_index(); r < n; r += device::index_stride()) pos[order[r]] = static_cast<int32_t>(r);
}

__global__ void gather_kernel(float* rows, const float* x, const int32_t* order, const float* gates, int64_t n,
                              int64_t k, int64_t c) {
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const int32_t e = order[r];
    const float g = gates ? gates[e] : 1.f;
    const float* in = x + (e / k) * c;
    float* out = rows + r * c;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) out[j] = g * in[j];
  }
}

__global__ void combine_kernel(float* y, const float* rows, const int32_t* pos, const float* gates, int64_t tokens,
                               int64_t k, int64_t c) {
  for (int64_t n = blockIdx.x; n < tokens; n += gridDim.x)
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      float acc = 0.f;
      for (int64_t s = 0; s < k; ++s) {
        const int64_t e = n * k + s;
        acc += (gates ? gates[e] : 1.f) * rows[pos[e] * c + j];
      }
      y[n * c + j] = acc;
    }
}

__global__ void gate_grad_kernel(float* dgates, float* dh, float* h, const int32_t* order, const float* gates,
                                 int64_t n, int64_t f) {
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    float* d = dh + r * f;
    float* hr = h + r * f;
    float part = 0.f;
    for (int64_t j = threadIdx.x; j < f; j += blockDim.x) part += d[j] * hr[j];
    const float dot = device::block_sum(part);
    const int32_t e = order[r];
    if (threadIdx.x == 0) dgates[e] = dot;
    const float g = gates[e];
    for (int64_t j = threadIdx.x; j < f; j += blockDim.x) {
      d[j] *= g;
      hr[j] *= g;
    }
  }
}

// Per token: dlogits written, contrib[n] = sum_b f_b p_nb.
__global__ void balance_kernel(float* dlogits, float* contrib, const float* logits, const float* f, int64_t tokens,
                               int64_t blocks, float scale) {
  for (int64_t n = device::first_index(); n < tokens; n += device::index_stride()) {
    const float* row = logits + n * blocks;
    float m = row[0], sum = 0.f, fp = 0.f;
    for (int64_t b = 1; b < blocks; ++b) m = fmaxf(m, row[b]);
    for (int64_t b = 0; b < blocks; ++b) sum += expf(row[b] - m);
    for (int64_t b = 0; b < blocks; ++b) fp += f[b] * expf(row[b] - m) / sum;
    contrib[n] = fp;
    for (int64_t b = 0; b < blocks; ++b) dlogits[n * blocks + b] = scale * expf(row[b] - m) / sum * (f[b] - fp);
  }
}

// loss[0] = scale * sum_n contrib[n], one block, a fixed order.
__global__ void balance_sum_kernel(float* loss, const float* contrib, int64_t tokens, float scale) {
  float part = 0.f;
  for (int64_t n = threadIdx.x; n < tokens; n += blockDim.x) part += contrib[n];
  const float total = device::block_sum(part);
  if (threadIdx.x == 0) loss[0] = scale * total;
}

}  // namespace

void CudaBackend::ffn_balance(const RouteParams& p, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                              const Tensor& fractions, float weight) {
  require_f32("ffn_balance", loss, dlogits, logits, fractions);
  const DeviceGuard guard(index_);
  const float scale = weight * static_cast<float>(p.blocks) / static_cast<float>(p.tokens);
  ScratchBuffer contrib(allocator_, static_cast<size_t>(p.tokens) * sizeof(float));
  balance_kernel<<<grid_for(p.tokens), kThreads, 0, stream()>>>(dlogits.data<float>(), contrib.as<float>(),
                                                                 logits.data<float>(), fractions.data<float>(),
                                                                 p.tokens, p.blocks, scale);
  SPT_CUDA_CHECK_LAUNCH("balance_kernel");
  balance_sum_kernel<<<1, 256, 0, stream()>>>(loss.data<float>(), contrib.as<float>(), p.tokens, scale);
  SPT_CUDA_CHECK_LAUNCH("balance_sum_kernel");
}

void CudaBackend::ffn_route_fwd(const RouteParams& p, Tensor& sel, Tensor& gates, const Tensor& logits) {
  require_f32("ffn_route", gates, logits);
  const DeviceGuard guard(index_);
  route_fwd_kernel<<<grid_for(p.tokens), kThreads, 0, stream()>>>(sel.data<int32_t>(), gates.data<float>(),
                                                                   logits.data<float>(), p);
  SPT_CUDA_CHECK_LAUNCH("route_fwd_kernel");
}

void CudaBackend::ffn_route_bwd(const RouteParams& p, Tensor& dlogits, const Tensor& dgates, const Tensor& gates,
                                const Tensor& sel) {
  require_f32("ffn_route", dlogits, dgates, gates);
  const DeviceGuard guard(index_);
  route_bwd_kernel<<<grid_for(p.tokens), kThreads, 0, stream()>>>(dlogits.data<float>(), dgates.data<float>(),
                                                                   gates.data<float>(), sel.data<int32_t>(), p);
  SPT_CUDA_CHECK_LAUNCH("route_bwd_kernel");
}

void CudaBackend::ffn_group(const RouteParams& p, Tensor& order, Tensor& offsets, Tensor& pos, const Tensor& sel) {
  const int64_t n = p.tokens * p.active;
  fill(offsets, 0.0);
  if (n == 0) return;
  const DeviceGuard guard(index_);
  ScratchBuffer values(allocator_, static_cast<size_t>(n) * sizeof(int32_t));
  ScratchBuffer keys_out(allocator_, static_cast<size_t>(n) * sizeof(int32_t));
  group_count_kernel<<<grid_for(n), kThreads, 0, stream()>>>(offsets.data<int32_t>(), values.as<int32_t>(),
                                                             sel.data<int32_t>(), n);
  SPT_CUDA_CHECK_LAUNCH("group_count_kernel");
  group_offsets_kernel<<<1, 32, 0, stream()>>>(offsets.data<int32_t>(), p.blocks);
  SPT_CUDA_CHECK_LAUNCH("group_offsets_kernel");
  int end_bit = 1;  // block ids are in [0, blocks)
  while ((int64_t{1} << end_bit) < p.blocks) ++end_bit;
  size_t temp_bytes = 0;
  // Block ids as unsigned keys (they are >= 0): only bits [0, end_bit) sorted.
  const auto* keys = reinterpret_cast<const uint32_t*>(sel.data<int32_t>());
  SPT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, keys_out.as<uint32_t>(),
                                                 values.as<int32_t>(), order.data<int32_t>(), n, 0, end_bit,
                                                 stream()));
  ScratchBuffer temp(allocator_, temp_bytes);
  SPT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, keys, keys_out.as<uint32_t>(),
                                                 values.as<int32_t>(), order.data<int32_t>(), n, 0, end_bit,
                                                 stream()));
  group_pos_kernel<<<grid_for(n), kThreads, 0, stream()>>>(pos.data<int32_t>(), order.data<int32_t>(), n);
  SPT_CUDA_CHECK_LAUNCH("group_pos_kernel");
}

void CudaBackend::ffn_gather(const RouteParams& p, Tensor& rows, const Tensor& x, const Tensor& order,
                             const Tensor& gates) {
  require_f32("ffn_gather", rows, x);
  if (gates.defined()) require_f32("ffn_gather", gates);
  const int64_t n = p.tokens * p.active, c = x.dim(-1);
  if (n == 0 || c == 0) return;
  const DeviceGuard guard(index_);
  gather_kernel<<<grid_for_rows(n), threads_for_row(c), 0, stream()>>>(
      rows.data<float>(), x.data<float>(), order.data<int32_t>(), gates.defined() ? gates.data<float>() : nullptr,
      n, p.active, c);
  SPT_CUDA_CHECK_LAUNCH("gather_kernel");
}

void CudaBackend::ffn_combine(const RouteParams& p, Tensor& y, const Tensor& rows, const Tensor& pos,
                              const Tensor& gates) {
  require_f32("ffn_combine", y, rows);
  if (gates.defined()) require_f32("ffn_combine", gates);
  const int64_t c = rows.dim(-1);
  if (p.tokens == 0 || c == 0) return;
  const DeviceGuard guard(index_);
  combine_kernel<<<grid_for_rows(p.tokens), threads_for_row(c), 0, stream()>>>(
      y.data<float>(), rows.data<float>(), pos.data<int32_t>(), gates.defined() ? gates.data<float>() : nullptr,
      p.tokens, p.active, c);
  SPT_CUDA_CHECK_LAUNCH("combine_kernel");
}

void CudaBackend::ffn_gate_grad(const RouteParams& p, Tensor& dgates, Tensor& dh, Tensor& h,
                                const Tensor& order, const Tensor& gates) {
  require_f32("ffn_gate_grad", dgates, dh, h, gates);
  const int64_t n = p.tokens * p.active, f = h.dim(-1);
  if (n == 0) return;
  const DeviceGuard guard(index_);
  gate_grad_kernel<<<grid_for_rows(n), threads_for_row(f), 0, stream()>>>(
      dgates.data<float>(), dh.data<float>(), h.data<float>(), order.data<int32_t>(), gates.data<float>(), n, f);
  SPT_CUDA_CHECK_LAUNCH("gate_grad_kernel");
}

}  // namespace spt::cuda
