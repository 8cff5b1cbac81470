// Accuracy of the vectorisable float math the CPU kernels use (src/cpu/vmath.h),
// against libm in double precision over dense grids covering the ranges the
// kernels see, including the tails and the special values.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "src/cpu/vmath.h"

namespace vm = spt::cpu::vm;

namespace {

template <class F>
void for_grid(double lo, double hi, int n, F&& f) {
  for (int i = 0; i <= n; ++i) f(static_cast<float>(lo + (hi - lo) * i / n));
}

}  // namespace

TEST_CASE("fast_exp: relative error <= 2e-7 on [-87, 88], exact limits outside", "[vmath]") {
  double worst = 0;
  for_grid(-87.0, 88.0, 400000, [&](float x) {
    const double ref = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(vm::fast_exp(x) / ref - 1.0));
  });
  INFO("worst relative error " << worst);
  REQUIRE(worst <= 2e-7);
  REQUIRE(vm::fast_exp(0.f) == 1.f);
  REQUIRE(vm::fast_exp(-100.f) == 0.f);
  REQUIRE(vm::fast_exp(-std::numeric_limits<float>::infinity()) == 0.f);
  REQUIRE(std::isinf(vm::fast_exp(100.f)));
  REQUIRE(std::isnan(vm::fast_exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("normal_cdf: absolute error <= 3e-7, relative <= 1e-5 in the lower tail to -9", "[vmath]") {
  double worst_abs = 0, worst_tail = 0;
  for_grid(-12.0, 12.0, 400000, [&](float x) {
    const double ref = 0.5 * std::erfc(-static_cast<double>(x) / std::sqrt(2.0));
    const double got = vm::normal_cdf(x);
    worst_abs = std::max(worst_abs, std::abs(got - ref));
    if (x < 0 && x > -9) worst_tail = std::max(worst_tail, std::abs(got / ref - 1.0));
  });
  INFO("worst absolute " << worst_abs << ", worst relative (lower tail) " << worst_tail);
  REQUIRE(worst_abs <= 3e-7);
  REQUIRE(worst_tail <= 1e-5);
  REQUIRE(vm::normal_cdf(std::numeric_limits<float>::infinity()) == 1.f);
  REQUIRE(vm::normal_cdf(-std::numeric_limits<float>::infinity()) == 0.f);
}

TEST_CASE("fast_tanh: absolute error <= 2e-7", "[vmath]") {
  double worst = 0;
  for_grid(-20.0, 20.0, 400000, [&](float x) {
    worst = std::max(worst, std::abs(vm::fast_tanh(x) - std::tanh(static_cast<double>(x))));
  });
  INFO("worst absolute error " << worst);
  REQUIRE(worst <= 2e-7);
  REQUIRE(vm::fast_tanh(0.f) == 0.f);
  REQUIRE(vm::fast_tanh(std::numeric_limits<float>::infinity()) == 1.f);
}
