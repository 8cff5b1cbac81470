// The single op-test registry (after ggml's test-backend-ops): every op is a
// list of small cases; one runner checks each case's backward against central
// finite differences in double precision, checks the =/+= gradient rule, and
// compares CUDA with CPU. Adding an op = adding cases in op_cases.cpp.
#pragma once

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "spt/core/tensor.h"

namespace spt::test {

using Rng = std::mt19937_64;

struct InputSpec {
  std::string name;
  Shape shape;
  bool is_index = false;      // i32 (ids, targets, masks); never differentiated
  bool differentiable = true;
  bool accumulates = false;   // parameter gradient (+=) rather than activation gradient (=)
  std::function<std::vector<double>(Rng&, int64_t n)> gen;  // host values
};

using Tensors = std::vector<Tensor>;

struct OpCase {
  std::string op;    // registry key, e.g. "layernorm"
  std::string name;  // e.g. "layernorm x(3,37,64)"
  std::vector<InputSpec> inputs;
  // Runs the op; may keep saved state (captured) for the next backward call.
  std::function<Tensors(const Tensors& in)> forward;
  // Given the inputs and output cotangents, writes/accumulates into `grads`
  // (one tensor per input, pre-filled by the runner; undefined for inputs that
  // are not differentiable). Empty for forward-only (reference-checked) ops.
  std::function<void(const Tensors& in, const Tensors& douts, Tensors& grads)> backward;
  // Optional independent reference for the forward outputs, in double on the host.
  std::function<std::vector<std::vector<double>>(const std::vector<std::vector<double>>& in)>
      reference;
  double fd_eps = 1e-6;
  double rtol = 1e-6;
  double atol = 1e-8;
  int max_checked = 48;  // elements checked per differentiable input
};

// All cases, built once; their op keys must be exactly spt::ops::op_names().
const std::vector<OpCase>& op_cases();

// Value generators.
std::function<std::vector<double>(Rng&, int64_t)> uniform(double lo, double hi);
// Uniform in [lo, hi] with |x| >= gap (for kinks such as relu's at 0).
std::function<std::vector<double>(Rng&, int64_t)> uniform_away(double lo, double hi, double gap);
std::function<std::vector<double>(Rng&, int64_t)> indices(int64_t limit);
std::function<std::vector<double>(Rng&, int64_t)> fixed(std::vector<double> values);

// Input specs: activation (gradient written), parameter (accumulated), constant
// float (not differentiated), index (i32).
InputSpec act_in(std::string name, Shape shape, double lo = -1, double hi = 1);
InputSpec param_in(std::string name, Shape shape, double lo = -1, double hi = 1);
InputSpec const_in(std::string name, Shape shape, double lo = -1, double hi = 1);
InputSpec index_in(std::string name, Shape shape,
                   std::function<std::vector<double>(Rng&, int64_t)> gen);
// A (B, T) key mask with `lens[b]` leading ones.
std::vector<double> mask_values(const std::vector<int64_t>& lens, int64_t T);

// Op families with their own case files.
void add_sparse_attention_cases(std::vector<OpCase>& cases);  // op_cases_sparse.cpp
void add_routed_ffn_cases(std::vector<OpCase>& cases);       // op_cases_routed.cpp
void add_attention_cases(std::vector<OpCase>& cases);        // op_cases_attention.cpp
void add_train_cases(std::vector<OpCase>& cases);            // op_cases_train.cpp (losses, AdamW, clipping)

}  // namespace spt::test
