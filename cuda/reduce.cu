// Reductions over f32 tensors (as src/cpu/elementwise.cpp):
//   sum_rows     out (C) += sum_r x (R, C)          (accumulated; see reduce.h)
//   sum          sum_i x_i,   returned on the host
//   sum_squares  sum_i x_i^2, returned on the host
// Everything accumulates in double with a fixed reduction tree (depending only
// on the sizes), so results are deterministic.
#include <algorithm>

#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "device/reduce.cuh"
#include "launch.h"
#include "reduce.h"

namespace spt::cuda {

namespace {

constexpr int64_t kMaxSumBlocks = 1024;  // partials of the full reductions

// partials (chunks, cols): the sum of x over one chunk of rows, per column.
__global__ void sum_rows_partial_kernel(double* partials, const float* x, int64_t rows,
                                        int64_t cols, int64_t rows_per_chunk) {
  __shared__ double tile[kRowLanes][kColumnTile];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  const int64_t r_begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t r_end = r_begin + rows_per_chunk < rows ? r_begin + rows_per_chunk : rows;
  double acc = 0.0;
  if (c < cols)
    for (int64_t r = r_begin + threadIdx.y; r < r_end; r += kRowLanes) acc += x[r * cols + c];
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double s = 0.0;
    for (int k = 0; k < kRowLanes; ++k) s += tile[k][threadIdx.x];
    partials[static_cast<int64_t>(blockIdx.y) * cols + c] = s;
  }
}

__global__ void sum_rows_finalize_kernel(float* out, const double* partials, int64_t chunks,
                                         int64_t cols) {
  for (int64_t c = device::first_index(); c < cols; c += device::index_stride()) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += partials[k * cols + c];
    out[c] += static_cast<float>(s);
  }
}

// partials (gridDim.x): one block's share of sum x_i (or x_i^2).
template <bool kSquares>
__global__ void sum_partial_kernel(double* partials, const float* x, int64_t n) {
  double acc = 0.0;
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) {
    const double v = x[i];
    acc += kSquares ? v * v : v;
  }
  acc = device::block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// out (1) = sum of partials (n), one block.
__global__ void sum_finalize_kernel(double* out, const double* partials, int64_t n) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += partials[i];
  acc = device::block_sum(acc);
  if (threadIdx.x == 0) out[0] = acc;
}

template <bool kSquares>
double full_sum(CudaBackend& backend, const Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const unsigned blocks = static_cast<unsigned>(std::min(ceil_div(n, kThreads), kMaxSumBlocks));
  ScratchBuffer scratch(backend.allocator(), (blocks + 1) * sizeof(double));
  double* partials = scratch.as<double>();
  double* total = partials + blocks;
  sum_partial_kernel<kSquares>
      <<<blocks, kThreads, 0, backend.stream()>>>(partials, x.data<float>(), n);
  SPT_CUDA_CHECK_LAUNCH("sum_partial_kernel");
  sum_finalize_kernel<<<1, kThreads, 0, backend.stream()>>>(total, partials, blocks);
  SPT_CUDA_CHECK_LAUNCH("sum_finalize_kernel");
  double result = 0.0;
  backend.copy_to_host(&result, total, sizeof(result));
  return result;
}

}  // namespace

ColumnChunks column_chunks(int64_t rows) {
  ColumnChunks cc;
  const int64_t target = std::clamp<int64_t>(ceil_div(rows, 64), 1, 256);
  cc.rows_per_chunk = ceil_div(rows, target);
  cc.chunks = ceil_div(rows, cc.rows_per_chunk);  // <= target, no empty chunk
  return cc;
}

void accumulate_column_partials(float* out, const double* partials, int64_t chunks, int64_t cols,
                                cudaStream_t stream) {
  sum_rows_finalize_kernel<<<grid_for(cols), kThreads, 0, stream>>>(out, partials, chunks, cols);
  SPT_CUDA_CHECK_LAUNCH("sum_rows_finalize_kernel");
}

void CudaBackend::sum_rows(Tensor& out, const Tensor& x) {
  require_f32("sum_rows", out, x);
  const int64_t cols = out.numel();
  if (cols == 0) return;
  const int64_t rows = x.numel() / cols;
  if (rows == 0) return;
  const DeviceGuard guard(index_);
  const ColumnChunks cc = column_chunks(rows);
  ScratchBuffer partials(allocator_, static_cast<size_t>(cc.chunks * cols) * sizeof(double));
  const dim3 grid(static_cast<unsigned>(ceil_div(cols, kColumnTile)),
                  static_cast<unsigned>(cc.chunks));
  const dim3 block(kColumnTile, kRowLanes);
  sum_rows_partial_kernel<<<grid, block, 0, stream()>>>(partials.as<double>(), x.data<float>(),
                                                        rows, cols, cc.rows_per_chunk);
  SPT_CUDA_CHECK_LAUNCH("sum_rows_partial_kernel");
  accumulate_column_partials(out.data<float>(), partials.as<double>(), cc.chunks, cols, stream());
}

double CudaBackend::sum(const Tensor& x) {
  require_f32("sum", x);
  const DeviceGuard guard(index_);
  return full_sum<false>(*this, x);
}

double CudaBackend::sum_squares(const Tensor& x) {
  require_f32("sum_squares", x);
  const DeviceGuard guard(index_);
  return full_sum<true>(*this, x);
}

}  // namespace spt::cuda
