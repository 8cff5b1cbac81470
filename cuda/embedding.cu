// Embedding lookup and its gradient, as src/cpu/embedding.cpp
// (N = number of ids, V = vocabulary, C = channels):
//   embedding_fwd       out (N, C) = weight (V, C) [ids (N)]
//   embedding_bwd       dweight (V, C) += scatter of dout (N, C) by ids  (accumulated)
//   count_out_of_range  #ids outside [0, limit), returned on the host
// ids are i32 or i64. The backward scatter uses f32 atomicAdd: repeated ids
// make the summation order, and so the last bits, vary from run to run.
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "device/reduce.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

template <class Index>
__global__ void embedding_fwd_kernel(float* out, const float* weight, const Index* ids, int64_t n,
                                     int64_t cols) {
  const int64_t total = n * cols;
  for (int64_t i = device::first_index(); i < total; i += device::index_stride()) {
    const int64_t row = i / cols, c = i - row * cols;
    out[i] = weight[static_cast<int64_t>(ids[row]) * cols + c];
  }
}

template <class Index>
__global__ void embedding_bwd_kernel(float* dweight, const float* dout, const Index* ids, int64_t n,
                                     int64_t cols) {
  const int64_t total = n * cols;
  for (int64_t i = device::first_index(); i < total; i += device::index_stride()) {
    const int64_t row = i / cols, c = i - row * cols;
    atomicAdd(dweight + static_cast<int64_t>(ids[row]) * cols + c, dout[i]);
  }
}

template <class Index>
__global__ void count_out_of_range_kernel(unsigned long long* count, const Index* ids, int64_t n,
                                          int64_t limit) {
  unsigned long long bad = 0;
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) {
    const int64_t v = ids[i];
    bad += (v < 0 || v >= limit) ? 1ull : 0ull;
  }
  bad = device::block_sum(bad);
  if (threadIdx.x == 0 && bad != 0) atomicAdd(count, bad);  // integer: order-independent
}

template <class Index>
void launch_fwd(const Tensor& ids, float* out, const float* weight, int64_t n, int64_t cols,
                cudaStream_t stream) {
  embedding_fwd_kernel<Index>
      <<<grid_for(n * cols), kThreads, 0, stream>>>(out, weight, ids.data<Index>(), n, cols);
  SPT_CUDA_CHECK_LAUNCH("embedding_fwd_kernel");
}

template <class Index>
void launch_bwd(const Tensor& ids, float* dweight, const float* dout, int64_t n, int64_t cols,
                cudaStream_t stream) {
  embedding_bwd_kernel<Index>
      <<<grid_for(n * cols), kThreads, 0, stream>>>(dweight, dout, ids.data<Index>(), n, cols);
  SPT_CUDA_CHECK_LAUNCH("embedding_bwd_kernel");
}

template <class Index>
void launch_count(const Tensor& ids, unsigned long long* count, int64_t limit,
                  cudaStream_t stream) {
  const int64_t n = ids.numel();
  count_out_of_range_kernel<Index>
      <<<grid_for(n), kThreads, 0, stream>>>(count, ids.data<Index>(), n, limit);
  SPT_CUDA_CHECK_LAUNCH("count_out_of_range_kernel");
}

}  // namespace

void CudaBackend::embedding_fwd(Tensor& out, const Tensor& weight, const Tensor& ids) {
  require_f32("embedding", out, weight);
  require_index("embedding", ids);
  const int64_t n = ids.numel(), cols = weight.dim(1);
  if (n == 0 || cols == 0) return;
  const DeviceGuard guard(index_);
  if (ids.dtype() == DType::i32)
    launch_fwd<int32_t>(ids, out.data<float>(), weight.data<float>(), n, cols, stream());
  else
    launch_fwd<int64_t>(ids, out.data<float>(), weight.data<float>(), n, cols, stream());
}

void CudaBackend::embedding_bwd(Tensor& dweight, const Tensor& dout, const Tensor& ids) {
  require_f32("embedding", dweight, dout);
  require_index("embedding", ids);
  const int64_t n = ids.numel(), cols = dweight.dim(1);
  if (n == 0 || cols == 0) return;
  const DeviceGuard guard(index_);
  if (ids.dtype() == DType::i32)
    launch_bwd<int32_t>(ids, dweight.data<float>(), dout.data<float>(), n, cols, stream());
  else
    launch_bwd<int64_t>(ids, dweight.data<float>(), dout.data<float>(), n, cols, stream());
}

int64_t CudaBackend::count_out_of_range(const Tensor& ids, int64_t limit) {
  require_index("embedding", ids);
  if (ids.numel() == 0) return 0;
  const DeviceGuard guard(index_);
  ScratchBuffer scratch(allocator_, sizeof(unsigned long long));
  unsigned long long* count = scratch.as<unsigned long long>();
  SPT_CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof(unsigned long long), stream()));
  if (ids.dtype() == DType::i32)
    launch_count<int32_t>(ids, count, limit, stream());
  else
    launch_count<int64_t>(ids, count, limit, stream());
  unsigned long long result = 0;
  copy_to_host(&result, count, sizeof(result));
  return static_cast<int64_t>(result);
}

}  // namespace spt::cuda
