// Helpers of the exactness tests against Hugging Face reference fixtures
// (tests/fixtures/reference): loading inputs and weights, and the error measures.
#pragma once

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "spt/io/safetensors.h"
#include "spt/io/weight_map.h"
#include "spt/model/parameters.h"

namespace spt::test {

inline Tensor load_i32(const io::SafetensorsReader& r, const std::string& name) {
  const Tensor t = r.load(name);
  return Tensor::from_ints(t.to_ints(), t.shape(), DType::i32);
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_doubles(), y = b.to_doubles();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Relative L2 error ||got - want|| / ||want||. Gradients that are zero in exact
// arithmetic (the attention key bias: adding q.b to a whole softmax row changes
// nothing) come out as rounding noise (~1e-13) on both sides; there an absolute
// error below 1e-10 counts as a match (the result is then reported as 0).
inline double rel_l2(const Tensor& got, const Tensor& want) {
  const auto x = got.to_doubles(), y = want.to_doubles();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  if (std::sqrt(num) <= 1e-10) return 0.0;
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// Loads a Hugging Face checkpoint into a store laid out for (cfg, head).
inline void load_hf(ParameterStore& ps, const io::ModelConfig& cfg, io::ModelHead head,
             const std::filesystem::path& file) {
  const io::SafetensorsReader r(file.string());
  const io::LoadedWeights w = io::load_weights(cfg, r, head);
  REQUIRE(w.newly_initialized.empty());
  for (const auto& [name, t] : w.params) ps.param(name).copy_from(t);
}

// Compares every parameter gradient with transformers' (HF names and layouts).

}  // namespace spt::test
