// Deterministic column sums, shared by sum_rows (reduce.cu) and the parameter
// gradients of layernorm_bwd (layernorm.cu).
//
// A (rows, cols) sum over rows runs in two passes without float atomics:
//   1. blocks of kColumnTile x kRowLanes threads each own kColumnTile columns
//      of one chunk of rows and write one partial sum per column, in double:
//      partials (chunks, cols);
//   2. accumulate_column_partials adds the chunks in order: out[c] += sum_k.
// The chunking depends only on `rows`, so results are bit-identical run to run.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace spt::cuda {

inline constexpr int kColumnTile = 32;  // columns per block: one warp, coalesced rows
inline constexpr int kRowLanes = 8;     // threads per column, striding over the chunk's rows

struct ColumnChunks {
  int64_t chunks = 1;  // gridDim.y of pass 1 (at most 256)
  int64_t rows_per_chunk = 1;
};

// About 64 rows per chunk, at most 256 chunks. rows > 0.
ColumnChunks column_chunks(int64_t rows);

// out (cols) += sum over k < chunks of partials (chunks, cols), summed in k order.
void accumulate_column_partials(float* out, const double* partials, int64_t chunks, int64_t cols,
                                cudaStream_t stream);

}  // namespace spt::cuda
