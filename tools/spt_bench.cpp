// spt-bench: times every op of the library, forward and backward, at BERT-base
// shapes (B=8, T=128, C=768, 12 heads, FFN 3072) and prints a table of
// milliseconds and GFLOP/s (GEMM-bound ops) or GB/s (memory-bound ops).
//
//   spt-bench [--device cpu|cuda] [--iters N] [--batch B] [--seq T]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <spdlog/spdlog.h>

#include "spt/core/error.h"
#include "spt/core/profile.h"
#include "spt/core/runtime.h"
#include "spt/io/gguf_import.h"
#include "spt/io/model_config.h"
#include "spt/io/weight_map.h"
#include "spt/model/model.h"
#include "spt/ops/optim.h"
#include <sys/resource.h>
#include "spt/ops/op_list.h"
#include "spt/ops/ops.h"
#include "tools/bench/attention_bench.h"
#include "tools/bench/ffn_bench.h"
#include "tools/bench/selection_bench.h"
#include "tools/bench/train_bench.h"

using namespace spt;

namespace {

struct Dims {
  int64_t B = 8, T = 128, C = 768, H = 12, F = 3072, V = 30522;
  int64_t N() const { return B * T; }
};

Tensor randn(const Shape& s, Device dev, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = d(rng);
  return Tensor::from_doubles(v, s, DType::f32, dev);
}

class Bench {
 public:
  Bench(Device dev, int iters) : dev_(dev), iters_(iters) {}

  // Times f (after one warm-up call); returns the median milliseconds per call
  // (the median resists the noise of shared machines).
  double time(const std::function<void()>& f) {
    Backend& be = backend_for(dev_);
    f();
    be.synchronize();
    std::vector<double> ms;
    for (int i = 0; i < iters_; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      be.synchronize();
      const auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }

  // `work` is FLOPs (rate in GFLOP/s) or bytes moved (rate in GB/s).
  void row(const std::string& op, const std::string& shape, const char* pass, double ms,
           double work, bool flops) {
    if (op != "gemm") covered_.insert(op);
    std::printf("| %-14s | %-28s | %-3s | %9.3f | %9.1f %-6s |\n", op.c_str(), shape.c_str(), pass,
                ms, work / (ms * 1e6), flops ? "GFLOP/s" : "GB/s");
  }

  // Ops of the op list (spt/ops/op_list.h) without a benchmark row.
  std::vector<std::string> missing() const {
    std::vector<std::string> out;
    for (const std::string& op : ops::op_names())
      if (!covered_.count(op)) out.push_back(op);
    return out;
  }

 private:
  Device dev_;
  int iters_;
  std::set<std::string> covered_;
};

std::string shp(std::initializer_list<int64_t> s) {
  std::string o = "(";
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (it != s.begin()) o += ",";
    o += std::to_string(*it);
  }
  return o + ")";
}

// Every op of the op list at BERT-base shapes; throws when one has no row.
void run(Device dev, const Dims& d, int iters) {
  Bench b(dev, iters);
  const int64_t N = d.N(), C = d.C, F = d.F;
  const double f4 = 4.0;  // bytes per f32
  std::printf("| %-14s | %-28s | %-3s | %9s | %16s |\n", "op", "shape", "   ", "ms", "rate");
  std::printf("|----------------|------------------------------|-----|-----------|------------------|\n");

  {  // linear (FFN up-projection)
    Tensor x = randn({N, C}, dev, 1), w = randn({F, C}, dev, 2, 0.02), bias = randn({F}, dev, 3);
    Tensor y, dx, dw = Tensor::zeros({F, C}, DType::f32, dev), db = Tensor::zeros({F}, DType::f32, dev);
    ops::linear_forward(y, x, w, bias);
    Tensor dy = randn({N, F}, dev, 4);
    const double fl = 2.0 * N * C * F;
    b.row("linear", shp({N, C}) + "->" + std::to_string(F), "fwd", b.time([&] { ops::linear_forward(y, x, w, bias); }), fl, true);
    b.row("linear", shp({N, C}) + "->" + std::to_string(F), "bwd", b.time([&] { ops::linear_backward(dx, dw, db, dy, x, w); }), 2 * fl, true);
  }
  {  // LoRA linear (r = 8, dropout 0.05) on the FFN up-projection, frozen base: dW skipped
    const int64_t r = 8;
    Tensor x = randn({N, C}, dev, 31), w = randn({F, C}, dev, 32, 0.02), bias = randn({F}, dev, 33);
    Tensor a = randn({r, C}, dev, 34, 0.05), bm = randn({F, r}, dev, 35, 0.05);
    Tensor y, u, mask, dx, dw, dbias, da = Tensor::zeros({r, C}, DType::f32, dev), dbm = Tensor::zeros({F, r}, DType::f32, dev);
    ops::LoraParams lp;
    lp.scale = 2.f;
    lp.dropout = {0.05f, 5, 6};
    ops::lora_linear_forward(y, u, mask, x, w, bias, a, bm, lp);
    Tensor dy = randn({N, F}, dev, 36);
    const double fl = 2.0 * N * C * F + 2.0 * N * r * (C + F);
    const std::string s = shp({N, C}) + "->" + std::to_string(F) + " r=8";
    b.row("lora_linear", s, "fwd", b.time([&] { ops::lora_linear_forward(y, u, mask, x, w, bias, a, bm, lp); }), fl, true);
    b.row("lora_linear", s, "bwd", b.time([&] {
      ops::lora_linear_backward(dx, dw, dbias, da, dbm, dy, x, w, a, bm, u, mask, lp);
    }), fl + 4.0 * N * r * (C + F), true);
  }
  {  // dense attention
    Tensor q = randn({d.B, d.T, C}, dev, 5), k = randn({d.B, d.T, C}, dev, 6), v = randn({d.B, d.T, C}, dev, 7);
    std::vector<int64_t> m(static_cast<size_t>(d.B * d.T), 1);
    Tensor mask = Tensor::from_ints(m, {d.B, d.T}, DType::i32, dev);
    ops::AttentionParams p;
    p.heads = d.H;
    p.dropout = {0.1f, 1, 2};
    ops::AttentionSaved saved;
    Tensor out, dq, dk, dv;
    ops::attention_forward(out, saved, q, k, v, mask, p);
    Tensor dout = randn({d.B, d.T, C}, dev, 8);
    const double fl = 4.0 * d.B * d.T * d.T * C;
    const std::string s = shp({d.B, d.T, C}) + " H=" + std::to_string(d.H);
    b.row("attention", s, "fwd", b.time([&] { ops::attention_forward(out, saved, q, k, v, mask, p); }), fl, true);
    b.row("attention", s, "bwd", b.time([&] { ops::attention_backward(dq, dk, dv, dout, q, k, v, saved, p); }), 2 * fl, true);
  }
  {  // sparse attention, L = T / 8 (rerank 1, 16 codewords of 8 dims)
    const int64_t D = C / d.H;
    Tensor q = randn({d.B, d.T, C}, dev, 5), k = randn({d.B, d.T, C}, dev, 6), v = randn({d.B, d.T, C}, dev, 7);
    Tensor cb = randn({d.H, D / 8, 16, 8}, dev, 41);
    ops::SparseAttentionParams p;
    p.heads = d.H;
    p.dropout = {std::getenv("SPT_BENCH_NODROP") ? 0.f : 0.1f, 1, 2};
    p.select.top_ratio = 0.125f;
    Tensor idx, out, dq, dk, dv;
    ops::sparse_select(idx, q, k, Tensor(), cb, p);
    ops::SparseAttentionSaved saved;
    ops::sparse_attention_forward(out, saved, q, k, v, idx, p);
    Tensor dout = randn({d.B, d.T, C}, dev, 8);
    const int64_t L = idx.dim(3);
    const double fl = 4.0 * d.B * d.T * L * C;
    const std::string s = shp({d.B, d.T, C}) + " H=" + std::to_string(d.H) + " L=" + std::to_string(L);
    b.row("sparse_select", s, "fwd", b.time([&] { ops::sparse_select(idx, q, k, Tensor(), cb, p); }),
          1.0 * d.B * d.T * d.T * (C / 8), true);  // table look-ups + adds
    b.row("sparse_attention", s, "fwd", b.time([&] { ops::sparse_attention_forward(out, saved, q, k, v, idx, p); }), fl, true);
    b.row("sparse_attention", s, "bwd", b.time([&] { ops::sparse_attention_backward(dq, dk, dv, dout, q, k, v, saved, p); }), 2.5 * fl, true);
  }
  {  // routed FFN routing: 8 blocks, 4 per token, sigmoid gates
    const int64_t nb = 8;
    Tensor logits = randn({N, nb}, dev, 42), sel, gates, dlogits, order, offsets, pos;
    Tensor dgates = randn({N, nb / 2}, dev, 43);
    ops::RouteOptions o;
    o.active = nb / 2;
    ops::route_forward(sel, gates, logits, o);
    const double bytes = 1.0 * N * (nb + nb) * f4;
    const std::string s = shp({N, nb}) + " k=4";
    b.row("ffn_route", s, "fwd", b.time([&] { ops::route_forward(sel, gates, logits, o); }), bytes, false);
    b.row("ffn_route", s, "bwd", b.time([&] { ops::route_backward(dlogits, dgates, gates, sel, nb, o); }), bytes, false);
    b.row("ffn_group", s, "fwd", b.time([&] { ops::group_by_block(order, offsets, pos, sel, nb); }),
          3.0 * N * (nb / 2) * 4, false);
    Tensor bal_loss, bal_grad;
    const Tensor fractions = Tensor::from_doubles(std::vector<double>(static_cast<size_t>(nb), 1.0 / static_cast<double>(nb)), {nb}, DType::f32, dev);
    b.row("ffn_balance", s, "f+b", b.time([&] { ops::route_balance(bal_loss, bal_grad, logits, fractions, 0.01f); }),
          2.0 * N * nb * f4, false);
    // The block FFN behind that routing: d = C, F = 4 C, every weight trainable.
    ops::BlockFfn f;
    f.blocks = nb;
    f.up_w = randn({4 * C, C}, dev, 44);
    f.up_b = randn({4 * C}, dev, 45);
    f.down_w = randn({C, 4 * C}, dev, 46);
    f.down_b = randn({C}, dev, 47);
    ops::BlockFfnGrads g;
    g.up_w = Tensor::zeros(f.up_w.shape(), DType::f32, dev);
    g.up_b = Tensor::zeros(f.up_b.shape(), DType::f32, dev);
    g.down_w = Tensor::zeros(f.down_w.shape(), DType::f32, dev);
    g.down_b = Tensor::zeros(f.down_b.shape(), DType::f32, dev);
    Tensor x = randn({N, C}, dev, 48), dy = randn({N, C}, dev, 49), y, dx, dg;
    ops::RoutedFfnSaved saved;
    ops::routed_ffn_forward(y, saved, x, sel, gates, f);
    const double fl = 2.0 * 2.0 * N * (nb / 2) * (4 * C / nb) * C;  // two GEMMs over the kept blocks
    const std::string fs = shp({N, C}) + " F=" + std::to_string(4 * C) + " k=4/8";
    b.row("routed_ffn", fs, "fwd", b.time([&] { ops::routed_ffn_forward(y, saved, x, sel, gates, f); }), fl, true);
    b.row("routed_ffn", fs, "bwd",
          b.time([&] { ops::routed_ffn_backward(dx, dg, g, dy, x, gates, saved, f); }), 2.0 * fl, true);
  }
  {  // layer norm
    Tensor x = randn({N, C}, dev, 9), w = randn({C}, dev, 10), bias = randn({C}, dev, 11);
    Tensor y, dx, dw = Tensor::zeros({C}, DType::f32, dev), db = Tensor::zeros({C}, DType::f32, dev);
    ops::LayerNormSaved saved;
    ops::layernorm_forward(y, saved, x, w, bias, 1e-12f);
    Tensor dy = randn({N, C}, dev, 12);
    const double bytes = 2.0 * N * C * f4;
    b.row("layernorm", shp({N, C}), "fwd", b.time([&] { ops::layernorm_forward(y, saved, x, w, bias, 1e-12f); }), bytes, false);
    b.row("layernorm", shp({N, C}), "bwd", b.time([&] { ops::layernorm_backward(dx, dw, db, dy, x, w, saved); }), 1.5 * bytes, false);
  }
  {  // RoPE on q (N, C): heads of 64
    const int64_t D = 64, P = 2048;
    Tensor x = randn({N, C}, dev, 9), y, dx, dy = randn({N, C}, dev, 12);
    Tensor cs = randn({P, D / 2}, dev, 10), sn = randn({P, D / 2}, dev, 11);
    std::vector<int64_t> pv(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) pv[static_cast<size_t>(i)] = i % P;
    const Tensor pos = Tensor::from_ints(pv, {N}, DType::i32, dev);
    const double bytes = 2.0 * N * C * f4;
    b.row("rope", shp({N, C}), "fwd", b.time([&] { ops::rope_forward(y, x, pos, cs, sn, C / D); }), bytes, false);
    b.row("rope", shp({N, C}), "bwd", b.time([&] { ops::rope_backward(dx, dy, pos, cs, sn, C / D); }), bytes, false);
  }
  {  // RMS norm
    Tensor x = randn({N, C}, dev, 9), w = randn({C}, dev, 10);
    Tensor y, dx, dw = Tensor::zeros({C}, DType::f32, dev);
    ops::RmsNormSaved saved;
    ops::rmsnorm_forward(y, saved, x, w, 1e-5f);
    Tensor dy = randn({N, C}, dev, 12);
    const double bytes = 2.0 * N * C * f4;
    b.row("rmsnorm", shp({N, C}), "fwd", b.time([&] { ops::rmsnorm_forward(y, saved, x, w, 1e-5f); }), bytes, false);
    b.row("rmsnorm", shp({N, C}), "bwd", b.time([&] { ops::rmsnorm_backward(dx, dw, dy, x, w, saved); }), 1.5 * bytes, false);
  }
  for (const auto& entry : {std::pair{"gelu", Activation::gelu_erf}, std::pair{"gelu_tanh", Activation::gelu_tanh},
                             std::pair{"relu", Activation::relu}, std::pair{"silu", Activation::silu},
                             std::pair{"tanh", Activation::tanh}}) {
    const char* name = entry.first;  // named copies: lambdas below capture them (clang 14 cannot capture bindings)
    const Activation act = entry.second;
    Tensor x = randn({N, F}, dev, 13), y, dx, dy = randn({N, F}, dev, 14);
    const double bytes = 2.0 * N * F * f4;
    b.row(name, shp({N, F}), "fwd", b.time([&] { ops::activation_forward(act, y, x); }), bytes, false);
    b.row(name, shp({N, F}), "bwd", b.time([&] { ops::activation_backward(act, dx, dy, x); }), 1.5 * bytes, false);
  }
  {  // SwiGLU: h = silu(g) * u
    Tensor g = randn({N, F}, dev, 17), u = randn({N, F}, dev, 18), h, dg, du, dh = randn({N, F}, dev, 19);
    const double bytes = 3.0 * N * F * f4;
    b.row("glu", shp({N, F}) + " silu", "fwd", b.time([&] { ops::glu_forward(Activation::silu, h, g, u); }), bytes, false);
    b.row("glu", shp({N, F}) + " silu", "bwd",
          b.time([&] { ops::glu_backward(Activation::silu, dg, du, dh, g, u); }), 5.0 / 3.0 * bytes, false);
  }
  {  // softmax on attention scores
    Tensor x = randn({d.B, d.H, d.T, d.T}, dev, 15), y, dx, dy = randn({d.B, d.H, d.T, d.T}, dev, 16);
    const double bytes = 2.0 * x.numel() * f4;
    const std::string s = shp({d.B, d.H, d.T, d.T});
    b.row("softmax", s, "fwd", b.time([&] { ops::softmax_forward(y, x, Tensor(), false, 0.125f); }), bytes, false);
    b.row("softmax", s, "bwd", b.time([&] { ops::softmax_backward(dx, dy, y, 0.125f); }), 1.5 * bytes, false);
  }
  {  // dropout and residual
    Tensor x = randn({N, C}, dev, 17), y, dx, r;
    const DropoutParams p{0.1f, 3, 4};
    const double bytes = 2.0 * N * C * f4;
    b.row("dropout", shp({N, C}), "fwd", b.time([&] { ops::dropout_forward(y, x, p); }), bytes, false);
    b.row("dropout", shp({N, C}), "bwd", b.time([&] { ops::dropout_backward(dx, x, p); }), bytes, false);
    Tensor yb, bits;
    b.row("dropout_bits", shp({N, C}), "fwd", b.time([&] { ops::dropout_forward_bits(yb, bits, x, p); }), bytes, false);
    b.row("dropout_bits", shp({N, C}), "bwd", b.time([&] { ops::dropout_apply_bits(dx, x, bits, p.p); }), bytes, false);
    b.row("residual", shp({N, C}), "fwd", b.time([&] { ops::residual_forward(r, x, y); }), 1.5 * bytes, false);
  }
  {  // embedding
    Tensor w = randn({d.V, C}, dev, 18, 0.02), out, dw = Tensor::zeros({d.V, C}, DType::f32, dev);
    std::vector<int64_t> ids(static_cast<size_t>(N));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 7919) % d.V);
    Tensor t = Tensor::from_ints(ids, {N}, DType::i32, dev);
    Tensor dout = randn({N, C}, dev, 19);
    const double bytes = 2.0 * N * C * f4;
    b.row("embedding", shp({N}) + " V=" + std::to_string(d.V), "fwd", b.time([&] { ops::embedding_forward(out, w, t); }), bytes, false);
    b.row("embedding", shp({N}) + " V=" + std::to_string(d.V), "bwd", b.time([&] { ops::embedding_backward(dw, dout, t); }), 1.5 * bytes, false);
  }
  {  // mean pooling of the last hidden states (classification with model.pooling = mean)
    Tensor x = randn({d.B, d.T, C}, dev, 21), y, dy = randn({d.B, C}, dev, 22), dx;
    std::vector<int64_t> m(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) m[i] = (i % d.T) < d.T - d.T / 4 ? 1 : 0;  // a quarter padded
    Tensor mask = Tensor::from_ints(m, {d.B, d.T}, DType::i32, dev);
    const double bytes = 1.0 * N * C * f4;
    const std::string s = shp({d.B, d.T, C});
    b.row("mean_pool", s, "fwd", b.time([&] { ops::mean_pool_forward(y, x, mask); }), bytes, false);
    b.row("mean_pool", s, "bwd", b.time([&] { ops::mean_pool_backward(dx, dy, mask); }), bytes, false);
  }
  {  // cross-entropy over the vocabulary (LM head)
    Tensor logits = randn({N, d.V}, dev, 20), dl;
    std::vector<int64_t> tg(static_cast<size_t>(N));
    for (size_t i = 0; i < tg.size(); ++i) tg[i] = static_cast<int64_t>((i * 104729) % d.V);
    Tensor t = Tensor::from_ints(tg, {N}, DType::i32, dev);
    ops::CrossEntropySaved saved;
    const double bytes = 1.0 * N * d.V * f4;
    const std::string s = shp({N, d.V});
    b.row("cross_entropy", s, "fwd", b.time([&] { ops::cross_entropy_forward(saved, logits, t); }), bytes, false);
    b.row("cross_entropy", s, "bwd", b.time([&] { ops::cross_entropy_backward(dl, logits, t, saved); }), 2 * bytes, false);
  }
  {  // AdamW over one BERT-base layer's parameters (7.1 M)
    const int64_t P = 4 * C * C + 2 * C * F;
    Tensor p = randn({P}, dev, 21), g = randn({P}, dev, 22);
    Tensor m = Tensor::zeros({P}, DType::f32, dev), v = Tensor::zeros({P}, DType::f32, dev);
    AdamWParams ap;
    ap.weight_decay = 0.01f;
    const double bytes = 7.0 * P * f4;
    b.row("adamw", shp({P}), "upd", b.time([&] { ops::adamw_step(p, m, v, g, ap); }), bytes, false);
    std::vector<Tensor> gs = {g};
    b.row("clip_grad_norm", shp({P}), "red", b.time([&] { ops::clip_grad_norm(gs, 1e30); }), 1.0 * P * f4, false);
  }
  {  // MSE (regression head)
    Tensor pred = randn({N}, dev, 23), target = randn({N}, dev, 24), dp;
    ops::MseSaved saved;
    b.row("mse", shp({N}), "fwd", b.time([&] { ops::mse_forward(saved, pred, target); }), 2.0 * N * f4, false);
    b.row("mse", shp({N}), "bwd", b.time([&] { ops::mse_backward(dp, pred, target, saved); }), 3.0 * N * f4, false);
  }
  const std::vector<std::string> missing = b.missing();
  SPT_CHECK(missing.empty(), "[spt-bench] no benchmark row for op ", missing.front(),
            " of spt/ops/op_list.h; hint: add one to run() in tools/spt_bench.cpp");
}

void run_gemm(Device dev, int iters) {
  Bench b(dev, iters);
  std::printf("\n| %-14s | %-28s | %-3s | %9s | %16s |\n", "gemm", "m x n x k", "dt", "ms", "rate");
  std::printf("|----------------|------------------------------|-----|-----------|------------------|\n");
  Backend& be = backend_for(dev);
  for (int64_t s : {1024, 4096}) {
    for (DType dt : {DType::f32, DType::bf16}) {
      if (dt == DType::bf16 && dev.is_cpu()) continue;  // bf16 GEMM is a GPU path
      Tensor a = randn({s, s}, dev, 30).to(dt), bm = randn({s, s}, dev, 31).to(dt);
      Tensor c = Tensor::empty({s, s}, dt, dev);
      GemmParams g;
      g.m = g.n = g.k = s;
      g.lda = g.ldb = g.ldc = s;
      const double ms = b.time([&] { be.gemm(g, c, a, bm); });
      b.row("gemm", shp({s, s, s}), dtype_name(dt), ms, 2.0 * s * s * s, true);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernel(argv);
  CLI::App app{"spt-bench: per-op timings at BERT-base shapes"};
  std::string device = "cpu";
  int iters = 10;
  Dims d;
  app.add_option("--device", device, "cpu or cuda[:N]");
  app.add_option("--iters", iters, "timed calls per op (after one warm-up)")->check(CLI::PositiveNumber);
  app.add_option("--batch", d.B, "batch size B")->check(CLI::PositiveNumber);
  app.add_option("--seq", d.T, "sequence length T")->check(CLI::PositiveNumber);
  std::string train_model;
  int steps = 30;
  app.add_option("--train-model", train_model,
                 "time fine-tuning steps of this Hugging Face model folder or .gguf file, or of random weights in "
                 "the shapes of bert-base or smollm2-135m, instead (BERT: classification; decoders: causal LM)");
  bench::TrainBenchOptions tb;
  app.add_flag("--spt", tb.spt, "--train-model: SPT mode (LoRA r 8 on the attention, sparse attention L = T/8, "
               "routed FFN 4 of 8 blocks)");
  app.add_option("--precision", tb.precision, "--train-model: fp32 (default), bf16 or fp16 GEMMs in the linear layers "
                 "(runtime.precision; on the CPU a slow reference)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app.add_option("--peak-tflops", tb.peak_tflops, "--train-model: the device's peak TFLOP/s, to report model FLOPs "
                 "utilisation");
  app.add_option("--steps", steps, "timed training steps (--train-model)")->check(CLI::PositiveNumber);
  int64_t lora_rank = 0;
  app.add_option("--lora", lora_rank, "--train-model: LoRA of this rank on every attention and FFN linear layer "
                 "(alpha 2r, dropout 0.05), base frozen; 0 = full fine-tuning")->check(CLI::NonNegativeNumber);
  std::vector<int64_t> attention_seqs;
  bench::AttentionBenchOptions ab;
  app.add_option("--attention", attention_seqs,
                 "compare sparse attention (select + fwd + bwd, L = T/8) with dense at these lengths "
                 "(B=4, H=12, D=64 unless --batch is given)")->delimiter(',');
  app.add_flag("--causal", ab.causal, "--attention: causal attention");
  app.add_option("--top-ratio", ab.top_ratio, "--attention: L / T");
  app.add_option("--rerank", ab.rerank, "--attention: exact re-ranking of rerank * L candidates");
  app.add_option("--dropout", ab.dropout, "--attention: attention dropout probability (default 0.1)");
  app.add_option("--sparse-kernel", ab.kernel, "--attention on CUDA: fused (default) or cusparse (the prototype's path)");
  app.add_flag("--deterministic", ab.deterministic, "--attention on CUDA: the sparse backward without atomics");
  app.add_option("--json", ab.json, "--attention / --ffn: append the rows to this JSONL file");
  app.add_flag("--sparse-only", ab.sparse_only, "--attention: time sparse attention alone (profiling)");
  bench::FfnBenchOptions fb;
  std::vector<std::string> ffn_shapes;
  app.add_option("--ffn", ffn_shapes,
                 "compare the routed FFN (router + top-k + grouping + block FFN, fwd + bwd) with spt's dense FFN at "
                 "these shapes d:F or d:F:swiglu, e.g. 384:1536 576:1536:swiglu 768:3072");
  app.add_option("--tokens", fb.tokens, "--ffn: tokens (default 4096)");
  app.add_option("--blocks", fb.blocks, "--ffn: neuron blocks (default 8)");
  app.add_option("--active", fb.active, "--ffn: blocks per token (default 4)");
  bench::SelectionBenchOptions sb;
  app.add_option("--selection", sb.model, "measure sparse attention's selection on this model folder over --text "
                 "(T = --seq; k-means on 4 windows, measured on 8)");
  app.add_option("--text", sb.text, "--selection: a plain text file");
  app.add_option("--subvector-dim", sb.subvector_dim, "--selection: PQ sub-vector size");
  CLI11_PARSE(app, argc, argv);
  try {
    init_threads();
    if (!sb.model.empty()) {
      sb.seq = app.count("--seq") ? d.T : 512;
      if (app.count("--rerank")) sb.rerank = ab.rerank;
      if (app.count("--top-ratio")) sb.top_ratio = ab.top_ratio;
      bench::run_selection_bench(sb);
      return 0;
    }
    if (!ffn_shapes.empty()) {
      for (const std::string& sh : ffn_shapes) fb.shapes.push_back(bench::parse_ffn_shape(sh));
      fb.iters = app.count("--iters") ? iters : 3;
      fb.json = ab.json;
      spdlog::info("{}", runtime_summary());
      bench::run_ffn_bench(device_from_name(device), fb);
      return 0;
    }
    if (!attention_seqs.empty()) {
      ab.seqs = attention_seqs;
      if (app.count("--batch")) ab.batch = d.B;
      ab.iters = app.count("--iters") ? iters : 3;
      spdlog::info("{}", runtime_summary());
      bench::run_attention_bench(device_from_name(device), ab);
      return 0;
    }
    if (!train_model.empty()) {
      tb.model = train_model;
      tb.batch = d.B;
      tb.seq = d.T;
      tb.steps = steps;
      tb.lora_rank = lora_rank;
      bench::run_train_bench(device_from_name(device), tb);
      return 0;
    }
    spdlog::info("{}", runtime_summary());
    const Device dev = device_from_name(device);
    spdlog::info("backend: {}", backend_for(dev).name());
    std::printf("\nspt-bench on %s: B=%lld T=%lld C=%lld H=%lld FFN=%lld, %d iterations\n\n",
                dev.str().c_str(), static_cast<long long>(d.B), static_cast<long long>(d.T),
                static_cast<long long>(d.C), static_cast<long long>(d.H),
                static_cast<long long>(d.F), iters);
    run(dev, d, iters);
    run_gemm(dev, iters);
    const MemoryStats m = default_allocator(dev).stats();
    std::printf("\npeak %s memory: %.1f MiB\n", dev.str().c_str(), m.peak / 1048576.0);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
