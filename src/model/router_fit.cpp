// Routers fitted to the FFN's own activations, and the share of the dense FFN
// output the chosen blocks carry (spt/model/routed_ffn.h).
//
// For FFN inputs x_n (real tokens of calibration batches) the dense FFN's
// output splits into block contributions Y_nb = act(x_n W_up[b]^T + b_up[b])
// W_down[:, b]^T (gated FFNs: (act(x_n W_gate[b]^T + b_gate[b]) * (x_n W_up[b]^T
// + b_up[b])) W_down[:, b]^T). The router is the ridge least-squares solution of
//   [x_n, 1] [W_r, b_r]^T ~ t_nb = log(||Y_nb|| + eps) - mean_b log(||Y_nb|| + eps)
//   (X^T X + lambda I) W = X^T t,   lambda = 1e-3 trace(X^T X) / (d + 1)
// (normal equations in double, Cholesky), then scaled so that its logits have
// standard deviation kLogitStd on the samples: the order of the blocks, which
// is all top-k sees, is unchanged, and the gates (1 at zero logits) start near 1.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "spt/core/error.h"
#include "spt/model/routed_ffn.h"

namespace spt::model {

namespace {

constexpr double kLogitStd = 0.1;
constexpr double kNormEps = 1e-6;

}  // namespace

Activation ffn_activation(const io::ModelConfig& cfg) {
  switch (cfg.family) {
    case io::ModelFamily::bert: return cfg.bert.activation;
    case io::ModelFamily::gpt2: return cfg.gpt2.activation;
    case io::ModelFamily::llama: return cfg.llama.activation;
    case io::ModelFamily::opt: return cfg.opt.activation;
  }
  return Activation::gelu_erf;
}

ops::BlockFfn layer_block_ffn(ParameterStore& ps, const io::ModelConfig& cfg, int64_t l, int64_t blocks) {
  const std::string p = "layers." + std::to_string(l) + ".ffn.";
  const auto cpu = [&](const std::string& name) { return ps.has(p + name) ? ps.param(p + name).to(Device::cpu()) : Tensor(); };
  ops::BlockFfn f;
  f.up_w = cpu("up.weight");
  f.up_b = cpu("up.bias");
  f.gate_w = cpu("gate.weight");
  f.gate_b = cpu("gate.bias");
  f.down_w = cpu("down.weight");
  f.act = ffn_activation(cfg);
  f.blocks = blocks;
  return f;
}

std::vector<double> block_output_norms(ParameterStore& ps, const io::ModelConfig& cfg, const RoutedFfnOptions& opts,
                                       int64_t l, const Tensor& x) {
  const ops::BlockFfn f = layer_block_ffn(ps, cfg, l, opts.blocks);
  const int64_t n = x.dim(0), d = x.dim(1);
  std::vector<double> norms(static_cast<size_t>(n * opts.blocks));
  for (int64_t b = 0; b < opts.blocks; ++b) {
    const Tensor sel = Tensor::from_ints(std::vector<int64_t>(static_cast<size_t>(n), b), {n, 1}, DType::i32);
    Tensor y;
    ops::RoutedFfnSaved saved;
    ops::routed_ffn_forward(y, saved, x, sel, Tensor(), f);
    const float* yv = y.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += static_cast<double>(yv[i * d + j]) * yv[i * d + j];
      norms[i * opts.blocks + b] = std::sqrt(s);
    }
  }
  return norms;
}

namespace {

// The k largest of `scores` (ties: smaller index).
std::vector<int64_t> top_k(const double* scores, int64_t blocks, int64_t k) {
  std::vector<int64_t> idx(static_cast<size_t>(blocks));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

// Share of the norm mass the router's top k (logits (n, blocks)) and the best k carry.
FfnShare share_of(const std::vector<double>& norms, const std::vector<double>& logits, int64_t n, int64_t blocks,
                  int64_t k) {
  FfnShare s;
  for (int64_t i = 0; i < n; ++i) {
    const double* nr = &norms[i * blocks];
    double total = 0, routed = 0, best = 0;
    for (int64_t b = 0; b < blocks; ++b) total += nr[b];
    if (total <= 0) continue;
    for (int64_t b : top_k(&logits[i * blocks], blocks, k)) routed += nr[b];
    for (int64_t b : top_k(nr, blocks, k)) best += nr[b];
    s.routed += routed / total;
    s.oracle += best / total;
    ++s.tokens;
  }
  if (s.tokens > 0) {
    s.routed /= static_cast<double>(s.tokens);
    s.oracle /= static_cast<double>(s.tokens);
  }
  return s;
}

// Router logits (n, blocks) for rows x (n, d) on the host.
std::vector<double> router_logits(const std::vector<float>& x, int64_t n, int64_t d, const Tensor& w, const Tensor& b) {
  const std::vector<double> wv = w.to_doubles(), bv = b.to_doubles();
  const int64_t blocks = static_cast<int64_t>(bv.size());
  std::vector<double> out(static_cast<size_t>(n * blocks));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < blocks; ++k) {
      double s = bv[k];
      for (int64_t j = 0; j < d; ++j) s += static_cast<double>(x[i * d + j]) * wv[k * d + j];
      out[i * blocks + k] = s;
    }
  return out;
}

// Solves (A) X = B in place for symmetric positive definite A (m x m), B (m x r).
void cholesky_solve(std::vector<double>& a, std::vector<double>& b, int64_t m, int64_t r) {
  for (int64_t j = 0; j < m; ++j) {
    double s = a[j * m + j];
    for (int64_t k = 0; k < j; ++k) s -= a[j * m + k] * a[j * m + k];
    SPT_CHECK(s > 0, "[ffn] router fit: the calibration inputs are degenerate (matrix not positive definite)");
    a[j * m + j] = std::sqrt(s);
    for (int64_t i = j + 1; i < m; ++i) {
      double t = a[i * m + j];
      for (int64_t k = 0; k < j; ++k) t -= a[i * m + k] * a[j * m + k];
      a[i * m + j] = t / a[j * m + j];
    }
  }
  for (int64_t c = 0; c < r; ++c) {  // L y = b, then L^T x = y
    for (int64_t i = 0; i < m; ++i) {
      double t = b[i * r + c];
      for (int64_t k = 0; k < i; ++k) t -= a[i * m + k] * b[k * r + c];
      b[i * r + c] = t / a[i * m + i];
    }
    for (int64_t i = m - 1; i >= 0; --i) {
      double t = b[i * r + c];
      for (int64_t k = i + 1; k < m; ++k) t -= a[k * m + i] * b[k * r + c];
      b[i * r + c] = t / a[i * m + i];
    }
  }
}

}  // namespace

double best_share(const std::vector<double>& norms, int64_t n, int64_t blocks, int64_t k) {
  return share_of(norms, norms, n, blocks, k).oracle;
}

std::map<int64_t, FfnShare> fit_routers(ParameterStore& ps, const io::ModelConfig& cfg, const RoutedFfnOptions& opts,
                                        const KeySamples& samples) {
  std::map<int64_t, FfnShare> out;
  const int64_t d = ffn_shape(cfg).hidden, nb = opts.blocks, m = d + 1;
  for (const auto& [l, rows] : samples.rows()) {
    if (!opts.is_routed_layer(l)) continue;
    const int64_t n = samples.count(l);
    if (n < 2) continue;
    const Tensor x = Tensor::from_doubles(std::vector<double>(rows.begin(), rows.end()), {n, d}, DType::f32);
    const std::vector<double> norms = block_output_norms(ps, cfg, opts, l, x);
    // Design [x, 1] (n, m) and targets (n, nb) in double.
    std::vector<double> xt(static_cast<size_t>(n * m)), t(static_cast<size_t>(n * nb));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < d; ++j) xt[i * m + j] = rows[i * d + j];
      xt[i * m + d] = 1.0;
      double mean = 0;
      for (int64_t b = 0; b < nb; ++b) mean += std::log(norms[i * nb + b] + kNormEps);
      mean /= static_cast<double>(nb);
      for (int64_t b = 0; b < nb; ++b) t[i * nb + b] = std::log(norms[i * nb + b] + kNormEps) - mean;
    }
    std::vector<double> a(static_cast<size_t>(m * m)), rhs(static_cast<size_t>(m * nb));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(m), static_cast<int>(n),
                1.0, xt.data(), static_cast<int>(m), xt.data(), static_cast<int>(m), 0.0, a.data(), static_cast<int>(m));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(nb), static_cast<int>(n),
                1.0, xt.data(), static_cast<int>(m), t.data(), static_cast<int>(nb), 0.0, rhs.data(),
                static_cast<int>(nb));
    double trace = 0;
    for (int64_t j = 0; j < m; ++j) trace += a[j * m + j];
    const double lambda = 1e-3 * trace / static_cast<double>(m) + 1e-8;
    for (int64_t j = 0; j < m; ++j) a[j * m + j] += lambda;
    cholesky_solve(a, rhs, m, nb);  // rhs = [W_r^T; b_r] (m, nb)
    std::vector<double> w(static_cast<size_t>(nb * d)), bias(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t j = 0; j < d; ++j) w[b * d + j] = rhs[j * nb + b];
      bias[b] = rhs[d * nb + b];
    }
    // Scale to a small logit spread.
    const Tensor wt = Tensor::from_doubles(w, {nb, d}, DType::f32), bt = Tensor::from_doubles(bias, {nb}, DType::f32);
    const std::vector<double> logits = router_logits(rows, n, d, wt, bt);
    double mean = 0, sq = 0;
    for (double v : logits) mean += v;
    mean /= static_cast<double>(logits.size());
    for (double v : logits) sq += (v - mean) * (v - mean);
    const double sd = std::sqrt(sq / static_cast<double>(logits.size()));
    const double alpha = sd > 0 ? kLogitStd / sd : 1.0;
    for (double& v : w) v *= alpha;
    for (double& v : bias) v *= alpha;
    ps.param(router_weight_name(l)).copy_from(Tensor::from_doubles(w, {nb, d}, DType::f32).to(ps.device()));
    ps.param(router_bias_name(l)).copy_from(Tensor::from_doubles(bias, {nb}, DType::f32).to(ps.device()));
    out[l] = share_of(norms, logits, n, nb, opts.active_blocks());
  }
  return out;
}

std::map<int64_t, FfnShare> measure_ffn_share(ParameterStore& ps, const io::ModelConfig& cfg,
                                              const RoutedFfnOptions& opts, const KeySamples& samples) {
  std::map<int64_t, FfnShare> out;
  const int64_t d = ffn_shape(cfg).hidden;
  for (const auto& [l, rows] : samples.rows()) {
    if (!opts.is_routed_layer(l)) continue;
    const int64_t n = samples.count(l);
    if (n == 0) continue;
    const Tensor x = Tensor::from_doubles(std::vector<double>(rows.begin(), rows.end()), {n, d}, DType::f32);
    const std::vector<double> norms = block_output_norms(ps, cfg, opts, l, x);
    const std::vector<double> logits =
        router_logits(rows, n, d, ps.param(router_weight_name(l)), ps.param(router_bias_name(l)));
    out[l] = share_of(norms, logits, n, opts.blocks, opts.active_blocks());
  }
  return out;
}

}  // namespace spt::model
