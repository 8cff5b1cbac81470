// Sixteen-lane GCC vector types for the CPU kernels (one zmm on AVX-512, two ymm
// on AVX2; unaligned loads allowed) and their horizontal reductions, shared by
// the sparse-attention row kernels and the PQ table builder.
#pragma once

#include <cstdint>

#include "src/cpu/vmath.h"

namespace spt::cpu {

typedef float v16f __attribute__((vector_size(64), aligned(4)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint8_t v16b __attribute__((vector_size(16), aligned(1)));

// Sum / min / max of the 16 lanes as a tree of shuffles (a plain loop is a serial chain).
SPT_INLINE_INTO_CLONES float hsum(v16f x) {
  x += __builtin_shuffle(x, v16i{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7});
  x += __builtin_shuffle(x, v16i{4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3});
  x += __builtin_shuffle(x, v16i{2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
  x += __builtin_shuffle(x, v16i{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0});
  return x[0];
}
SPT_INLINE_INTO_CLONES float hmin(v16f x) {
  v16f y = __builtin_shuffle(x, v16i{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7});
  x = y < x ? y : x;
  y = __builtin_shuffle(x, v16i{4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3});
  x = y < x ? y : x;
  y = __builtin_shuffle(x, v16i{2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
  x = y < x ? y : x;
  y = __builtin_shuffle(x, v16i{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0});
  x = y < x ? y : x;
  return x[0];
}
SPT_INLINE_INTO_CLONES float hmax(v16f x) { return -hmin(-x); }

}  // namespace spt::cpu
