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

// Lane shuffles with constant indices: SPT_SHUFFLE(x, i0, ..., i15) picks lanes of
// x; SPT_SHUFFLE2(x, y, ...) of the 32 lanes of x then y. GCC spells them
// __builtin_shuffle with an index vector, clang __builtin_shufflevector.
#if defined(__clang__)
#define SPT_SHUFFLE(x, ...) __builtin_shufflevector((x), (x), __VA_ARGS__)
#define SPT_SHUFFLE2(x, y, ...) __builtin_shufflevector((x), (y), __VA_ARGS__)
#else
#define SPT_SHUFFLE(x, ...) __builtin_shuffle((x), v16i{__VA_ARGS__})
#define SPT_SHUFFLE2(x, y, ...) __builtin_shuffle((x), (y), v16i{__VA_ARGS__})
#endif

// Sum / min / max of the 16 lanes as a tree of shuffles (a plain loop is a serial chain).
SPT_INLINE_INTO_CLONES float hsum(v16f x) {
  x += SPT_SHUFFLE(x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  x += SPT_SHUFFLE(x, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
  x += SPT_SHUFFLE(x, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
  x += SPT_SHUFFLE(x, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
  return x[0];
}
SPT_INLINE_INTO_CLONES float hmin(v16f x) {
  v16f y = SPT_SHUFFLE(x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  x = y < x ? y : x;
  y = SPT_SHUFFLE(x, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
  x = y < x ? y : x;
  y = SPT_SHUFFLE(x, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
  x = y < x ? y : x;
  y = SPT_SHUFFLE(x, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
  x = y < x ? y : x;
  return x[0];
}
SPT_INLINE_INTO_CLONES float hmax(v16f x) { return -hmin(-x); }

}  // namespace spt::cpu
