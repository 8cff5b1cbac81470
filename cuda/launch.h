// Host-side helpers shared by the op files: launch shapes and dtype checks.
//
// Two kernel shapes are used throughout:
//   * elementwise: 1-D grid-stride loops, kThreads per block, at most kMaxBlocks
//     blocks (the loop covers the rest, so any n fits);
//   * row-wise: one block per row (grid-stride over rows), threads_for_row(cols)
//     threads, reductions inside the block. Block sizes are multiples of 32, as
//     device/reduce.cuh requires.
// Launchers return early for empty tensors: a grid of zero blocks is an error.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>

#include "spt/core/dtype.h"
#include "spt/core/error.h"
#include "spt/core/tensor.h"

namespace spt::cuda {

inline constexpr int kThreads = 256;
inline constexpr int64_t kMaxBlocks = 65536;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over n > 0 elements.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>(std::clamp<int64_t>(ceil_div(n, threads), 1, kMaxBlocks));
}

// Blocks for a one-block-per-row kernel over rows > 0 (gridDim.x allows 2^31 - 1).
inline unsigned grid_for_rows(int64_t rows) {
  return static_cast<unsigned>(std::clamp<int64_t>(rows, 1, INT_MAX));
}

// Threads for a block that owns one row of `cols` elements: about four elements
// per thread, a power of two in [32, 1024].
inline int threads_for_row(int64_t cols) {
  int threads = 32;
  while (threads < 1024 && threads * int64_t{4} < cols) threads *= 2;
  return threads;
}

// Throws "[op] dtype X not supported on cuda" unless t has dtype `dt`.
inline void require_dtype(const char* op, const Tensor& t, DType dt) {
  SPT_CHECK(t.dtype() == dt, "[", op, "] dtype ", dtype_name(t.dtype()),
            " not supported on cuda (expected ", dtype_name(dt), "), got ", t.str());
}

template <class... Tensors>
void require_f32(const char* op, const Tensors&... ts) {
  (require_dtype(op, ts, DType::f32), ...);
}

// Index tensors (token ids, targets) may be i32 or i64, as on the CPU.
inline void require_index(const char* op, const Tensor& t) {
  SPT_CHECK(t.dtype() == DType::i32 || t.dtype() == DType::i64, "[", op, "] dtype ",
            dtype_name(t.dtype()), " not supported on cuda for indices (i32, i64), got ", t.str());
}

}  // namespace spt::cuda
