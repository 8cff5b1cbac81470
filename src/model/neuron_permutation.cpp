// Co-activation permutation of FFN neurons (ffn.permute = coactivation; see
// spt/model/routed_ffn.h).
//
// Block b of a routed FFN is neurons [b Fb, (b + 1) Fb). A pretrained FFN's
// neurons are in no useful order, so every block holds a similar share of each
// token's activation and no choice of k blocks carries much more than k / blocks
// of it. Neurons that fire on the same tokens should share a block instead.
// Neuron i is described by its activation pattern over calibration tokens s,
//   v_i = (|act(pre_si)|)_s / ||.||,
// and the neurons are split into `blocks` clusters of exactly Fb by balanced
// spherical k-means: centroids c_b (unit), assignment by decreasing similarity
// v_i . c_b with every cluster capped at Fb, centroids re-estimated, 15 rounds.
// The permutation lists cluster 0's neurons (increasing index), then cluster 1's,
// ...; rows of W_up and b_up and columns of W_down follow it, which leaves the
// dense FFN's function unchanged (a sum over neurons in another order).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "spt/core/error.h"
#include "spt/model/routed_ffn.h"
#include "spt/ops/activation.h"
#include "spt/ops/linear.h"

namespace spt::model {

namespace {

constexpr int kRounds = 15;
constexpr int64_t kMaxTokens = 4096;  // activation pattern length per neuron

// Unit activation patterns (F, S) of the neurons of `layer` on rows x (n, d).
std::vector<float> patterns(ParameterStore& ps, const io::ModelConfig& cfg, int64_t layer, const Tensor& x,
                            int64_t& S) {
  const ops::BlockFfn f = layer_block_ffn(ps, cfg, layer, 1);
  S = std::min(x.dim(0), kMaxTokens);
  const Tensor xs = x.narrow0(0, S);
  Tensor pre, h;
  ops::linear_forward(pre, xs, f.up_w, f.up_b);
  if (f.gate_w.defined()) {  // gated: h = act(x W_gate^T + b_gate) * (x W_up^T + b_up)
    Tensor pre_gate;
    ops::linear_forward(pre_gate, xs, f.gate_w, f.gate_b);
    ops::glu_forward(f.act, h, pre_gate, pre);
  } else {
    ops::activation_forward(f.act, h, pre);
  }
  const int64_t F = f.up_w.dim(0);
  const float* hv = h.data<float>();
  std::vector<float> v(static_cast<size_t>(F * S));
  for (int64_t i = 0; i < F; ++i) {
    double norm = 0;
    for (int64_t s = 0; s < S; ++s) {
      const float a = std::abs(hv[s * F + i]);
      v[i * S + s] = a;
      norm += static_cast<double>(a) * a;
    }
    const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.f;
    for (int64_t s = 0; s < S; ++s) v[i * S + s] *= inv;
  }
  return v;
}

double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Balanced spherical k-means of F unit rows v (F, S) into `blocks` clusters of F / blocks.
std::vector<int64_t> balanced_clusters(const std::vector<float>& v, int64_t F, int64_t S, int64_t blocks,
                                       uint64_t seed) {
  const int64_t cap = F / blocks;
  std::vector<float> cent(static_cast<size_t>(blocks * S));
  // Seeding: a random neuron, then each next centroid the neuron least similar to the chosen ones.
  std::mt19937_64 rng(seed);
  std::vector<double> best_sim(static_cast<size_t>(F), -INFINITY);
  int64_t pick = static_cast<int64_t>(rng() % static_cast<uint64_t>(F));
  for (int64_t c = 0; c < blocks; ++c) {
    std::copy(&v[pick * S], &v[pick * S] + S, &cent[c * S]);
    int64_t next = 0;
    double lowest = INFINITY;
    for (int64_t i = 0; i < F; ++i) {
      best_sim[i] = std::max(best_sim[i], dot(&v[i * S], &cent[c * S], S));
      if (best_sim[i] < lowest) lowest = best_sim[i], next = i;
    }
    pick = next;
  }
  std::vector<int64_t> assign(static_cast<size_t>(F), -1);
  std::vector<std::pair<double, int64_t>> pairs(static_cast<size_t>(F * blocks));
  for (int round = 0; round < kRounds; ++round) {
    for (int64_t i = 0; i < F; ++i)
      for (int64_t c = 0; c < blocks; ++c) pairs[i * blocks + c] = {-dot(&v[i * S], &cent[c * S], S), i * blocks + c};
    std::sort(pairs.begin(), pairs.end());  // most similar first; ties by (neuron, cluster)
    std::vector<int64_t> size(static_cast<size_t>(blocks), 0), next(static_cast<size_t>(F), -1);
    for (const auto& [neg, ic] : pairs) {
      const int64_t i = ic / blocks, c = ic % blocks;
      if (next[i] >= 0 || size[c] >= cap) continue;
      next[i] = c;
      ++size[c];
    }
    const bool changed = next != assign;
    assign = next;
    std::fill(cent.begin(), cent.end(), 0.f);
    for (int64_t i = 0; i < F; ++i)
      for (int64_t s = 0; s < S; ++s) cent[assign[i] * S + s] += v[i * S + s];
    for (int64_t c = 0; c < blocks; ++c) {
      const double n = std::sqrt(dot(&cent[c * S], &cent[c * S], S));
      if (n > 0)
        for (int64_t s = 0; s < S; ++s) cent[c * S + s] = static_cast<float>(cent[c * S + s] / n);
    }
    if (!changed) break;
  }
  std::vector<int64_t> perm;
  for (int64_t c = 0; c < blocks; ++c)
    for (int64_t i = 0; i < F; ++i)
      if (assign[i] == c) perm.push_back(i);
  return perm;
}

// new[r] = old[perm[r]] for the rows of t (R, C) (rows = true) or its columns.
void permute_tensor(Tensor& t, const std::vector<int64_t>& perm, bool rows) {
  const Tensor host = t.to(Device::cpu());
  const std::vector<double> old = host.to_doubles();
  std::vector<double> out(old.size());
  const int64_t R = t.ndim() == 1 ? t.dim(0) : t.dim(0), C = t.ndim() == 1 ? 1 : t.dim(1);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c)
      out[r * C + c] = rows ? old[perm[r] * C + c] : old[r * C + perm[c]];
  t.copy_from(Tensor::from_doubles(out, t.shape(), t.dtype()).to(t.device()));
}

}  // namespace

std::map<int64_t, std::pair<double, double>> permute_neurons(ParameterStore& ps, const io::ModelConfig& cfg,
                                                             const RoutedFfnOptions& opts, const KeySamples& samples,
                                                             uint64_t seed) {
  std::map<int64_t, std::pair<double, double>> out;
  const int64_t d = ffn_shape(cfg).hidden;
  for (const auto& [l, rows] : samples.rows()) {
    if (!opts.is_routed_layer(l) || opts.blocks < 2) continue;
    const int64_t n = samples.count(l);
    if (n < 2) continue;
    const Tensor x = Tensor::from_doubles(std::vector<double>(rows.begin(), rows.end()), {n, d}, DType::f32);
    const double before = best_share(block_output_norms(ps, cfg, opts, l, x), n, opts.blocks, opts.active_blocks());
    int64_t S = 0;
    const std::vector<float> v = patterns(ps, cfg, l, x, S);
    const int64_t F = ffn_shape(cfg).intermediate;
    const std::vector<int64_t> perm = balanced_clusters(v, F, S, opts.blocks, seed + static_cast<uint64_t>(l));
    SPT_CHECK(static_cast<int64_t>(perm.size()) == F, "[ffn] neuron permutation of layer ", l, " lost neurons");
    const std::string p = "layers." + std::to_string(l) + ".ffn.";
    for (const char* by_row : {"up.weight", "up.bias", "gate.weight", "gate.bias"})
      if (ps.has(p + by_row)) permute_tensor(ps.param(p + by_row), perm, true);
    permute_tensor(ps.param(p + "down.weight"), perm, false);
    const double after = best_share(block_output_norms(ps, cfg, opts, l, x), n, opts.blocks, opts.active_blocks());
    out[l] = {before, after};
  }
  return out;
}

}  // namespace spt::model
