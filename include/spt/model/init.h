// Seeded parameter initialisation values, the same on every platform (unlike
// std::normal_distribution): a 64-bit Mersenne Twister, 53-bit uniforms,
// Box-Muller normals. Used for new heads and LoRA adapters.
#pragma once

#include <cstdint>
#include <vector>

namespace spt::model {

// n values ~ N(0, stddev^2).
std::vector<double> normal_values(uint64_t seed, int64_t n, double stddev);
// n values ~ U(lo, hi).
std::vector<double> uniform_values(uint64_t seed, int64_t n, double lo, double hi);

}  // namespace spt::model
