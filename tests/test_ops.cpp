// Runs the op-test registry: for every op, (1) backward against central finite
// differences in double precision, (2) the rule that activation gradients are
// written and parameter gradients accumulated, (3) forward-only ops against an
// independent double-precision reference, and (4) CUDA against CPU in f32,
// forward and backward (tagged [cuda], skipped with a message without a GPU).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <deque>
#include <set>

#include "spt/backend/backend.h"
#include "spt/ops/op_list.h"
#include "tests/cuda_required.h"
#include "tests/op_registry.h"

namespace spt::test {
namespace {

using HostValues = std::vector<std::vector<double>>;

HostValues make_host_values(const OpCase& c, uint64_t seed) {
  Rng rng(seed);
  HostValues v;
  for (const InputSpec& s : c.inputs) v.push_back(s.gen(rng, shape_numel(s.shape)));
  return v;
}

Tensors to_tensors(const OpCase& c, const HostValues& v, DType dt, Device dev) {
  Tensors t;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const InputSpec& s = c.inputs[i];
    t.push_back(Tensor::from_doubles(v[i], s.shape, s.is_index ? DType::i32 : dt, dev));
  }
  return t;
}

// Cotangents, one per output, uniform in [-1, 1].
Tensors make_cotangents(const Tensors& outs, uint64_t seed) {
  Rng rng(seed);
  Tensors d;
  for (const Tensor& o : outs) d.push_back(Tensor::from_doubles(uniform(-1, 1)(rng, o.numel()), o.shape(), o.dtype(), o.device()));
  return d;
}

double dot(const Tensors& outs, const Tensors& cot) {
  double s = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    const auto a = outs[k].to_doubles(), b = cot[k].to_doubles();
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  }
  return s;
}

Tensors make_grads(const OpCase& c, const Tensors& in, double fill) {
  Tensors g(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (!c.inputs[i].differentiable) continue;
    g[i] = Tensor::from_doubles(std::vector<double>(static_cast<size_t>(in[i].numel()), fill),
                                in[i].shape(), in[i].dtype(), in[i].device());
  }
  return g;
}

// Compares element-wise; reports the worst element.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                  double atol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  size_t worst = 0, bad = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = atol + rtol * std::abs(want[i]);
    const double err = std::abs(got[i] - want[i]);
    if (!(err <= tol)) ++bad;  // also catches NaN
    if (!(err - tol <= worst_excess)) {
      worst_excess = err - tol;
      worst = i;
    }
  }
  INFO(what << ": " << bad << " of " << got.size() << " elements off; worst at " << worst
            << ": got " << (got.empty() ? 0 : got[worst]) << ", want "
            << (want.empty() ? 0 : want[worst]));
  CHECK(bad == 0);
}

void check_gradients(const OpCase& c) {
  const HostValues base = make_host_values(c, 42);
  const Device cpu = Device::cpu();
  Tensors in = to_tensors(c, base, DType::f64, cpu);
  const Tensors outs = c.forward(in);
  for (const Tensor& o : outs)
    for (double x : o.to_doubles()) REQUIRE(std::isfinite(x));
  const Tensors cot = make_cotangents(outs, 7);
  Tensors grads = make_grads(c, in, 0.0);
  c.backward(in, cot, grads);

  // The =/+= rule: pre-filled gradients are overwritten (activations) or added to (parameters).
  constexpr double kFill = 0.25;
  c.forward(in);
  Tensors grads2 = make_grads(c, in, kFill);
  c.backward(in, cot, grads2);
  for (size_t i = 0; i < in.size(); ++i) {
    if (!c.inputs[i].differentiable) continue;
    std::vector<double> want = grads[i].to_doubles();
    if (c.inputs[i].accumulates)
      for (double& x : want) x += kFill;
    expect_close(grads2[i].to_doubles(), want, 1e-12, 1e-12,
                 c.name + ": d" + c.inputs[i].name + (c.inputs[i].accumulates ? " must accumulate (+=)" : " must be written (=)"));
  }

  // Central finite differences on (up to max_checked) sampled elements.
  for (size_t i = 0; i < in.size(); ++i) {
    if (!c.inputs[i].differentiable) continue;
    const std::vector<double> analytic = grads[i].to_doubles();
    const int64_t n = static_cast<int64_t>(analytic.size());
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) idx[j] = j;
    Rng rng(1000 + i);
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(c.max_checked)));
    std::vector<double> num, ana;
    for (int64_t j : idx) {
      HostValues pv = base;
      pv[i][j] = base[i][j] + c.fd_eps;
      const double lp = dot(c.forward(to_tensors(c, pv, DType::f64, cpu)), cot);
      pv[i][j] = base[i][j] - c.fd_eps;
      const double lm = dot(c.forward(to_tensors(c, pv, DType::f64, cpu)), cot);
      num.push_back((lp - lm) / (2 * c.fd_eps));
      ana.push_back(analytic[j]);
    }
    expect_close(ana, num, c.rtol * 10, std::max(c.atol, 1e-7), c.name + ": d" + c.inputs[i].name + " vs finite differences");
  }
}

void check_reference(const OpCase& c) {
  const HostValues base = make_host_values(c, 42);
  const Tensors outs = c.forward(to_tensors(c, base, DType::f32, Device::cpu()));
  // The reference sees the f32-rounded inputs the op saw.
  HostValues rounded = base;
  for (auto& v : rounded)
    for (double& x : v) x = static_cast<double>(static_cast<float>(x));
  const HostValues want = c.reference(rounded);
  REQUIRE(want.size() == outs.size());
  for (size_t k = 0; k < outs.size(); ++k)
    expect_close(outs[k].to_doubles(), want[k], c.rtol, c.atol, c.name + ": output " + std::to_string(k) + " vs reference");
}

void check_cuda_vs_cpu(const OpCase& c) {
  const HostValues base = make_host_values(c, 42);
  const Tensors in_cpu = to_tensors(c, base, DType::f32, Device::cpu());
  const Tensors in_gpu = to_tensors(c, base, DType::f32, Device::cuda(0));
  const Tensors out_cpu = c.forward(in_cpu);
  const Tensors out_gpu = c.forward(in_gpu);
  REQUIRE(out_cpu.size() == out_gpu.size());
  for (size_t k = 0; k < out_cpu.size(); ++k) {
    REQUIRE(out_gpu[k].device() == Device::cuda(0));
    expect_close(out_gpu[k].to_doubles(), out_cpu[k].to_doubles(), 1e-4, 1e-5,
                 c.name + ": cuda output " + std::to_string(k));
  }
  if (!c.backward) return;
  const Tensors cot_cpu = make_cotangents(out_cpu, 7);
  Tensors cot_gpu;
  for (const Tensor& t : cot_cpu) cot_gpu.push_back(t.to(Device::cuda(0)));
  Tensors g_cpu = make_grads(c, in_cpu, 0.0), g_gpu = make_grads(c, in_gpu, 0.0);
  c.forward(in_cpu);
  c.backward(in_cpu, cot_cpu, g_cpu);
  c.forward(in_gpu);
  c.backward(in_gpu, cot_gpu, g_gpu);
  for (size_t i = 0; i < in_cpu.size(); ++i) {
    if (!c.inputs[i].differentiable) continue;
    expect_close(g_gpu[i].to_doubles(), g_cpu[i].to_doubles(), 1e-4, 1e-5,
                 c.name + ": cuda d" + c.inputs[i].name);
  }
}

int count_cases(const std::string& op) {
  return static_cast<int>(std::count_if(op_cases().begin(), op_cases().end(),
                                        [&](const OpCase& c) { return c.op == op; }));
}

void run_cpu(const std::string& op) {
  REQUIRE(count_cases(op) > 0);
  for (const OpCase& c : op_cases()) {
    if (c.op != op) continue;
    DYNAMIC_SECTION(c.name) {
      if (c.backward) check_gradients(c);
      if (c.reference) check_reference(c);
    }
  }
}

void run_cuda(const std::string& op) {
  REQUIRE(count_cases(op) > 0);
  if (!cuda_available_for_test("the CUDA-vs-CPU test of '" + op + "'")) return;
  for (const OpCase& c : op_cases()) {
    if (c.op != op) continue;
    DYNAMIC_SECTION(c.name) { check_cuda_vs_cpu(c); }
  }
}

}  // namespace

TEST_CASE("op registry covers the whole op library", "[ops]") {
  std::set<std::string> have;
  for (const OpCase& c : op_cases()) have.insert(c.op);
  const std::set<std::string> listed(ops::op_names().begin(), ops::op_names().end());
  for (const std::string& op : listed) {
    INFO("op " << op << " (spt/ops/op_list.h) has no case in tests/op_cases.cpp");
    CHECK(have.count(op) == 1);
  }
  for (const std::string& op : have) {
    INFO("cases of op " << op << " in tests/op_cases.cpp, but the op is not in spt/ops/op_list.h");
    CHECK(listed.count(op) == 1);
  }
  for (const OpCase& c : op_cases()) {
    INFO(c.name);
    CHECK((c.backward || c.reference));
  }
}

namespace {

// One gradient test and one CUDA-vs-CPU test per op of the op list, registered
// at start-up (so CTest runs each on its own): "op NAME: gradients and reference
// (cpu)" [ops][grad] and "op NAME: cuda matches cpu" [ops][cuda].
struct OpTest final : Catch::ITestInvoker {
  std::string op;
  bool cuda = false;
  OpTest(std::string o, bool c) : op(std::move(o)), cuda(c) {}
  void invoke() const override { cuda ? run_cuda(op) : run_cpu(op); }
};

const bool registered = [] {
  static std::deque<std::string> names;  // Catch keeps StringRefs into these
  for (const std::string& op : ops::op_names()) {
    names.push_back("op " + op + ": gradients and reference (cpu)");
    Catch::AutoReg(new OpTest(op, false), CATCH_INTERNAL_LINEINFO, Catch::StringRef(),
                   Catch::NameAndTags{names.back(), "[ops][grad]"});
    names.push_back("op " + op + ": cuda matches cpu");
    Catch::AutoReg(new OpTest(op, true), CATCH_INTERNAL_LINEINFO, Catch::StringRef(),
                   Catch::NameAndTags{names.back(), "[ops][cuda]"});
  }
  return true;
}();

}  // namespace

}  // namespace spt::test
