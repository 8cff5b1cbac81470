// Cross-entropy over logits (N, V) with integer targets (N), as
// src/cpu/cross_entropy.cpp (N = rows, V = classes):
//   lse_i  = log sum_j exp(logits_ij)          (max-subtracted; sum in double)
//   loss_i = lse_i - logits_i[t_i],  0 where t_i == ignore_index
// Backward: dlogits_ij = scale * exp(logits_ij - lse_i) - scale * [j == t_i]
// (written), all-zero rows where t_i == ignore_index. targets are i32 or i64
// and already range-checked. Forward: one block per row; backward: elementwise.
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "device/reduce.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

// losses, lse: (rows); logits: (rows, classes); targets: (rows)
template <class Index>
__global__ void __launch_bounds__(1024)
    cross_entropy_fwd_kernel(float* losses, float* lse, const float* logits, const Index* targets,
                             int64_t rows, int64_t classes, int64_t ignore_index) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = logits + row * classes;
    float mx = -CUDART_INF_F;
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = device::block_max(mx);
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) s += expf(xr[j] - mx);
    s = device::block_sum(s);
    if (threadIdx.x == 0) {
      const float l = mx + static_cast<float>(log(s));
      lse[row] = l;
      const int64_t t = targets[row];
      losses[row] = t == ignore_index ? 0.f : l - xr[t];
    }
  }
}

template <class Index>
__global__ void cross_entropy_bwd_kernel(float* dlogits, const float* logits, const float* lse,
                                         const Index* targets, int64_t rows, int64_t classes,
                                         int64_t ignore_index, float scale) {
  const int64_t total = rows * classes;
  for (int64_t i = device::first_index(); i < total; i += device::index_stride()) {
    const int64_t row = i / classes, j = i - row * classes;
    const int64_t t = targets[row];
    if (t == ignore_index) {
      dlogits[i] = 0.f;
      continue;
    }
    float d = scale * expf(logits[i] - lse[row]);
    if (j == t) d -= scale;
    dlogits[i] = d;
  }
}

template <class Index>
void launch_fwd(const CrossEntropyParams& p, float* losses, float* lse, const float* logits,
                const Tensor& targets, cudaStream_t stream) {
  cross_entropy_fwd_kernel<Index><<<grid_for_rows(p.rows), threads_for_row(p.classes), 0, stream>>>(
      losses, lse, logits, targets.data<Index>(), p.rows, p.classes, p.ignore_index);
  SPT_CUDA_CHECK_LAUNCH("cross_entropy_fwd_kernel");
}

template <class Index>
void launch_bwd(const CrossEntropyParams& p, float* dlogits, const float* logits, const float* lse,
                const Tensor& targets, float scale, cudaStream_t stream) {
  cross_entropy_bwd_kernel<Index><<<grid_for(p.rows * p.classes), kThreads, 0, stream>>>(
      dlogits, logits, lse, targets.data<Index>(), p.rows, p.classes, p.ignore_index, scale);
  SPT_CUDA_CHECK_LAUNCH("cross_entropy_bwd_kernel");
}

}  // namespace

void CudaBackend::cross_entropy_fwd(const CrossEntropyParams& p, Tensor& losses, Tensor& lse,
                                    const Tensor& logits, const Tensor& targets) {
  require_f32("cross_entropy", losses, lse, logits);
  require_index("cross_entropy", targets);
  if (p.rows == 0 || p.classes == 0) return;
  const DeviceGuard guard(index_);
  if (targets.dtype() == DType::i32)
    launch_fwd<int32_t>(p, losses.data<float>(), lse.data<float>(), logits.data<float>(), targets,
                        stream());
  else
    launch_fwd<int64_t>(p, losses.data<float>(), lse.data<float>(), logits.data<float>(), targets,
                        stream());
}

void CudaBackend::cross_entropy_bwd(const CrossEntropyParams& p, Tensor& dlogits,
                                    const Tensor& logits, const Tensor& lse, const Tensor& targets,
                                    float scale) {
  require_f32("cross_entropy", dlogits, logits, lse);
  require_index("cross_entropy", targets);
  if (p.rows == 0 || p.classes == 0) return;
  const DeviceGuard guard(index_);
  if (targets.dtype() == DType::i32)
    launch_bwd<int32_t>(p, dlogits.data<float>(), logits.data<float>(), lse.data<float>(), targets,
                        scale, stream());
  else
    launch_bwd<int64_t>(p, dlogits.data<float>(), logits.data<float>(), lse.data<float>(), targets,
                        scale, stream());
}

}  // namespace spt::cuda
