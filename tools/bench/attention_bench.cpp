// spt-bench --attention (see attention_bench.h). Random q, k, v ~ N(0, 1);
// codebooks are learned by k-means from the keys themselves first (as training
// does before its first step), so the selection does the work it does in a run.
#include "tools/bench/attention_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>

#include "spt/backend/backend.h"
#include "spt/core/error.h"
#include "spt/io/model_config.h"
#include "spt/model/sparse_attention.h"
#include "spt/ops/attention.h"
#include "spt/ops/sparse_attention.h"

namespace spt::bench {

namespace {

Tensor randn(const Shape& s, Device dev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = d(rng);
  return Tensor::from_doubles(v, s, DType::f32, dev);
}

double median_ms(Device dev, int iters, const std::function<void()>& f) {
  Backend& be = backend_for(dev);
  f();
  be.synchronize();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    be.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Codebooks (H, M, 16, 8) by k-means on the keys of the first batch item.
Tensor learn_codebooks(const Tensor& k, int64_t heads, int64_t head_dim) {
  io::ModelConfig cfg;
  cfg.family = io::ModelFamily::bert;
  cfg.bert.num_hidden_layers = 1;
  cfg.bert.num_attention_heads = heads;
  cfg.bert.hidden_size = heads * head_dim;
  model::SparseAttentionOptions o;
  o.enabled = true;
  o.max_samples = 4096;
  std::vector<ParamInfo> infos;
  model::add_sparse_attention_params(infos, cfg, o);
  ParameterStore ps(infos, Device::cpu());
  model::KeySamples samples(o.max_samples);
  samples.add(0, k.narrow0(0, 1).to(Device::cpu()), Tensor());
  model::kmeans_codebooks(ps, cfg, o, samples, 1);
  return ps.param(model::pq_codebooks_name(0));
}

}  // namespace

void run_attention_bench(Device dev, const AttentionBenchOptions& o) {
  const int64_t B = o.batch, H = o.heads, D = o.head_dim, C = H * D;
  std::ofstream json;
  if (!o.json.empty()) json.open(o.json, std::ios::app);
  SPT_CHECK(o.kernel == "fused" || o.kernel == "cusparse", "--sparse-kernel is \"", o.kernel,
            "\"; hint: fused or cusparse");
  std::printf("\nattention fwd+bwd on %s: B=%lld H=%lld D=%lld %s, dropout %.2f, L = %.4g T, rerank %lld, "
              "median of %d%s%s\n\n", dev.str().c_str(), static_cast<long long>(B), static_cast<long long>(H),
              static_cast<long long>(D), o.causal ? "causal" : "bidirectional", o.dropout, o.top_ratio,
              static_cast<long long>(o.rerank), o.iters,
              dev.is_cuda() ? (o.kernel == "cusparse" ? ", cuSPARSE path" : ", fused kernels") : "",
              dev.is_cuda() && o.deterministic ? ", deterministic backward" : "");
  std::printf("| T | L | dense fwd ms | dense bwd ms | dense saved MiB | sparse select ms | sparse fwd ms | "
              "sparse bwd ms | sparse saved MiB | speed-up | memory |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const int64_t T : o.seqs) {
    const Tensor q = randn({B, T, C}, dev, 1), k = randn({B, T, C}, dev, 2), v = randn({B, T, C}, dev, 3);
    const Tensor dout = randn({B, T, C}, dev, 4);
    // Dense.
    ops::AttentionParams dp;
    dp.heads = H;
    dp.causal = o.causal;
    dp.dropout = {o.dropout, 5, 6};
    double dense_fwd = 0, dense_bwd = 0, dense_saved = 1;
    if (!o.sparse_only) {
      Tensor out, dq, dk, dv;
      ops::AttentionSaved saved;
      dense_fwd = median_ms(dev, o.iters, [&] { ops::attention_forward(out, saved, q, k, v, Tensor(), dp); });
      dense_saved = static_cast<double>(saved.probs.nbytes() + (saved.dropped.defined() ? saved.dropped.nbytes() : 0));
      dense_bwd = median_ms(dev, o.iters, [&] { ops::attention_backward(dq, dk, dv, dout, q, k, v, saved, dp); });
    }
    // Sparse.
    ops::SparseAttentionParams sp;
    sp.heads = H;
    sp.causal = o.causal;
    sp.dropout = dp.dropout;
    sp.select.top_ratio = static_cast<float>(o.top_ratio);
    sp.select.min_l = 1;
    sp.select.rerank = o.rerank;
    sp.kernel = o.kernel == "cusparse" ? SparseKernel::cusparse : SparseKernel::fused;
    sp.deterministic = o.deterministic;
    const Tensor cb = learn_codebooks(k, H, D).to(dev);
    Tensor idx, out, dq, dk, dv;
    ops::SparseAttentionSaved saved;
    const double sel = median_ms(dev, o.iters, [&] { ops::sparse_select(idx, q, k, Tensor(), cb, sp); });
    const double fwd = median_ms(dev, o.iters, [&] { ops::sparse_attention_forward(out, saved, q, k, v, idx, sp); });
    const double bwd = median_ms(dev, o.iters, [&] { ops::sparse_attention_backward(dq, dk, dv, dout, q, k, v, saved, sp); });
    const double sparse_saved = static_cast<double>(saved.saved_bytes());
    const double speedup = (dense_fwd + dense_bwd) / (sel + fwd + bwd);
    const double mem = sparse_saved / dense_saved;
    const int64_t L = idx.dim(3);
    std::printf("| %lld | %lld | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2fx | %.3f |\n",
                static_cast<long long>(T), static_cast<long long>(L), dense_fwd, dense_bwd, dense_saved / 1048576.0,
                sel, fwd, bwd, sparse_saved / 1048576.0, speedup, mem);
    std::fflush(stdout);
    if (json.is_open())
      json << "{\"T\": " << T << ", \"L\": " << L << ", \"causal\": " << (o.causal ? "true" : "false")
           << ", \"dense_fwd_ms\": " << dense_fwd << ", \"dense_bwd_ms\": " << dense_bwd
           << ", \"dense_saved_bytes\": " << dense_saved << ", \"sparse_select_ms\": " << sel
           << ", \"sparse_fwd_ms\": " << fwd << ", \"sparse_bwd_ms\": " << bwd
           << ", \"sparse_saved_bytes\": " << sparse_saved << "}\n";
  }
}

}  // namespace spt::bench
