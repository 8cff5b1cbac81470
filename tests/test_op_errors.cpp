// Misuse of an op (wrong shape, wrong dtype, mixed devices, bad values) throws
// spt::Error whose message names the op — never a crash or a silent result.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>

#include "spt/core/error.h"
#include "spt/ops/ops.h"

using namespace spt;

namespace {

// Claims to be cuda:0 but hands out host memory: lets CPU-only CI build a
// "cuda" tensor to check that mixed-device calls are rejected before any kernel.
class FakeCudaAllocator final : public Allocator {
 public:
  Device device() const override { return Device::cuda(0); }
  void* allocate(size_t n) override { return n ? std::malloc(n) : nullptr; }
  void deallocate(void* p, size_t) override { std::free(p); }
};

Tensor f32(Shape s) { return Tensor::zeros(s, DType::f32); }
Tensor i32(Shape s) { return Tensor::zeros(s, DType::i32); }

struct Misuse {
  const char* what;
  const char* op;  // must appear in brackets in the message
  std::function<void()> call;
};

}  // namespace

TEST_CASE("misused ops throw spt::Error naming the op", "[ops][errors]") {
  FakeCudaAllocator fake;
  const Tensor on_gpu = Tensor::empty({4, 8}, DType::f32, Device::cuda(0), &fake);
  Tensor out;
  ops::LayerNormSaved ln;
  ops::AttentionSaved attn;
  ops::CrossEntropySaved ce;
  const std::vector<Misuse> cases = {
      {"linear: in-features mismatch", "linear",
       [&] { ops::linear_forward(out, f32({4, 7}), f32({3, 8}), Tensor()); }},
      {"linear: bias shape", "linear",
       [&] { ops::linear_forward(out, f32({4, 8}), f32({3, 8}), f32({4})); }},
      {"linear: i32 input", "linear",
       [&] { ops::linear_forward(out, i32({4, 8}), f32({3, 8}), Tensor()); }},
      {"linear: bf16 input on cpu", "linear",
       [&] { ops::linear_forward(out, f32({4, 8}).to(DType::bf16), f32({3, 8}), Tensor()); }},
      {"linear: mixed devices", "linear",
       [&] { ops::linear_forward(out, on_gpu, f32({3, 8}), Tensor()); }},
      {"linear: bf16 weight with an f64 input", "linear",
       [&] { ops::linear_forward(out, Tensor::zeros({4, 8}, DType::f64), f32({3, 8}).to(DType::bf16), Tensor()); }},
      {"linear: bf16 weight on another device", "linear",
       [&] { ops::linear_forward(out, on_gpu, f32({3, 8}).to(DType::bf16), Tensor()); }},
      {"linear: mixed dtypes", "linear",
       [&] { ops::linear_forward(out, f32({4, 8}), Tensor::zeros({3, 8}, DType::f64), Tensor()); }},
      {"linear: wrong preallocated output", "linear",
       [&] {
         Tensor y = f32({4, 4});
         ops::linear_forward(y, f32({4, 8}), f32({3, 8}), Tensor());
       }},
      {"embedding: id out of range", "embedding",
       [&] {
         ops::embedding_forward(out, f32({5, 3}), Tensor::from_ints({0, 5}, {2}, DType::i32));
       }},
      {"embedding: negative id", "embedding",
       [&] {
         ops::embedding_forward(out, f32({5, 3}), Tensor::from_ints({-1}, {1}, DType::i32));
       }},
      {"embedding: float ids", "embedding", [&] { ops::embedding_forward(out, f32({5, 3}), f32({2})); }},
      {"layernorm: weight size", "layernorm",
       [&] { ops::layernorm_forward(out, ln, f32({2, 8}), f32({7}), f32({7}), 1e-5f); }},
      {"layernorm: eps", "layernorm",
       [&] { ops::layernorm_forward(out, ln, f32({2, 8}), f32({8}), f32({8}), 0.f); }},
      {"gelu: i64 input", "gelu",
       [&] { ops::activation_forward(Activation::gelu_erf, out, Tensor::zeros({3}, DType::i64)); }},
      {"unknown activation name", "activation", [&] { ops::activation_from_name("swiglu"); }},
      {"softmax: 3-D scores", "softmax",
       [&] { ops::softmax_forward(out, f32({2, 3, 4}), Tensor(), false, 1.f); }},
      {"softmax: mask shape", "softmax",
       [&] { ops::softmax_forward(out, f32({2, 1, 3, 4}), i32({2, 3}), false, 1.f); }},
      {"dropout: p = 1", "dropout",
       [&] { ops::dropout_forward(out, f32({4}), DropoutParams{1.f, 0, 0}); }},
      {"residual: shape", "residual", [&] { ops::residual_forward(out, f32({4}), f32({5})); }},
      {"attention: heads do not divide C", "attention",
       [&] {
         ops::AttentionParams p;
         p.heads = 3;
         ops::attention_forward(out, attn, f32({1, 4, 8}), f32({1, 4, 8}), f32({1, 4, 8}), Tensor(), p);
       }},
      {"attention: k/v shape", "attention",
       [&] {
         ops::AttentionParams p;
         p.heads = 2;
         ops::attention_forward(out, attn, f32({1, 4, 8}), f32({1, 5, 8}), f32({1, 4, 8}), Tensor(), p);
       }},
      {"attention: mixed devices", "attention",
       [&] {
         ops::AttentionParams p;
         ops::attention_forward(out, attn, f32({4, 8}).reshape({1, 4, 8}),
                                on_gpu.reshape({1, 4, 8}), f32({1, 4, 8}), Tensor(), p);
       }},
      {"cross_entropy: target out of range", "cross_entropy",
       [&] {
         ops::cross_entropy_forward(ce, f32({2, 3}), Tensor::from_ints({0, 3}, {2}, DType::i32));
       }},
      {"cross_entropy: targets length", "cross_entropy",
       [&] { ops::cross_entropy_forward(ce, f32({2, 3}), i32({3})); }},
      {"mse: size mismatch", "mse",
       [&] {
         ops::MseSaved s;
         ops::mse_forward(s, f32({3}), f32({4}));
       }},
      {"adamw: moment shape", "adamw",
       [&] {
         Tensor p = f32({4}), m = f32({4}), v = f32({5});
         ops::adamw_step(p, m, v, f32({4}), AdamWParams{});
       }},
      {"adamw: beta2 = 1", "adamw",
       [&] {
         Tensor p = f32({4}), m = f32({4}), v = f32({4});
         AdamWParams ap;
         ap.beta2 = 1.f;
         ops::adamw_step(p, m, v, f32({4}), ap);
       }},
      {"clip_grad_norm: max_norm 0", "clip_grad_norm",
       [&] {
         std::vector<Tensor> g = {f32({3})};
         ops::clip_grad_norm(g, 0.0);
       }},
      {"reshape: wrong size", "reshape", [&] { (void)f32({4, 3}).reshape({5, -1}); }},
  };
  for (const Misuse& m : cases) {
    INFO(m.what);
    out = Tensor();
    try {
      m.call();
      FAIL("no error thrown");
    } catch (const spt::Error& e) {
      const std::string msg = e.what();
      INFO("message: " << msg);
      CHECK(msg.find(std::string("[") + m.op) == 0);
    }
  }
}
