// Seeded initialisation values (see include/spt/model/init.h).
#include "spt/model/init.h"

#include <cmath>
#include <random>

namespace spt::model {

std::vector<double> normal_values(uint64_t seed, int64_t n, double stddev) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    v[i] = stddev * r * std::cos(2 * M_PI * u2);
    if (i + 1 < n) v[i + 1] = stddev * r * std::sin(2 * M_PI * u2);
  }
  return v;
}

std::vector<double> uniform_values(uint64_t seed, int64_t n, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = lo + (hi - lo) * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
  return v;
}

}  // namespace spt::model
