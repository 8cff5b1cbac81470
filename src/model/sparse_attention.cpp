// Sparse attention options, codebook parameters and codebook learning (k-means
// on sampled keys, then mini-batch k-means). See spt/model/sparse_attention.h.
#include "spt/model/sparse_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "spt/core/error.h"

namespace spt::model {

bool SparseAttentionOptions::is_sparse_layer(int64_t layer) const {
  if (!enabled) return false;
  return layers.empty() || std::find(layers.begin(), layers.end(), layer) != layers.end();
}

io::Json SparseAttentionOptions::to_json() const {
  return {{"type", "sparse"},
          {"top_l", select.top_l},
          {"top_ratio", select.top_ratio},
          {"min_l", select.min_l},
          {"keep_first", select.keep_first},
          {"local_window", select.local_window},
          {"layers", layers},
          {"pq", {{"subvector_dim", subvector_dim},
                  {"codewords", codewords},
                  {"rerank", select.rerank},
                  {"calibration_batches", calibration_batches},
                  {"update_every", update_every},
                  {"max_samples", max_samples}}},
          {"cuda", {{"kernel", cuda_kernel == SparseKernel::cusparse ? "cusparse" : "fused"},
                    {"deterministic", deterministic}}}};
}

SparseAttentionOptions SparseAttentionOptions::from_json(const io::Json& j, const std::string& context) {
  SPT_CHECK(j.is_object(), context, ": \"attention\" must be an object");
  SparseAttentionOptions o;
  try {
    o.enabled = j.value("type", "dense") == "sparse";
    o.select.top_l = j.at("top_l").get<int64_t>();
    o.select.top_ratio = j.at("top_ratio").get<float>();
    o.select.min_l = j.at("min_l").get<int64_t>();
    o.select.keep_first = j.value("keep_first", int64_t{0});
    o.select.local_window = j.value("local_window", int64_t{0});
    o.layers = j.value("layers", std::vector<int64_t>{});
    const io::Json& pq = j.at("pq");
    o.subvector_dim = pq.at("subvector_dim").get<int64_t>();
    o.codewords = pq.at("codewords").get<int64_t>();
    o.select.rerank = pq.value("rerank", int64_t{1});
    o.calibration_batches = pq.value("calibration_batches", int64_t{4});
    o.update_every = pq.value("update_every", int64_t{50});
    o.max_samples = pq.value("max_samples", int64_t{16384});
    const io::Json cuda = j.value("cuda", io::Json::object());  // absent in older checkpoints
    const std::string kernel = cuda.value("kernel", "fused");
    SPT_CHECK(kernel == "fused" || kernel == "cusparse", context, ": attention.cuda.kernel is \"", kernel,
              "\"; hint: fused or cusparse");
    o.cuda_kernel = kernel == "cusparse" ? SparseKernel::cusparse : SparseKernel::fused;
    o.deterministic = cuda.value("deterministic", false);
  } catch (const nlohmann::json::exception& e) {
    fail(context, ": malformed \"attention\" settings (", e.what(), ")");
  }
  return o;
}

AttentionShape attention_shape(const io::ModelConfig& cfg) {
  switch (cfg.family) {
    case io::ModelFamily::bert: {
      const auto& c = cfg.bert;
      return {c.num_hidden_layers, c.num_attention_heads, c.num_attention_heads,
              c.hidden_size / c.num_attention_heads};
    }
    case io::ModelFamily::gpt2: {
      const auto& c = cfg.gpt2;
      return {c.n_layer, c.n_head, c.n_head, c.n_embd / c.n_head};
    }
    case io::ModelFamily::llama: {
      const auto& c = cfg.llama;
      return {c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.head_dim};
    }
    case io::ModelFamily::opt: {
      const auto& c = cfg.opt;
      return {c.num_hidden_layers, c.num_attention_heads, c.num_attention_heads, c.hidden_size / c.num_attention_heads};
    }
  }
  return {};
}

void SparseAttentionOptions::validate(const io::ModelConfig& cfg, const std::string& context) const {
  if (!enabled) return;
  const AttentionShape a = attention_shape(cfg);
  SPT_CHECK(select.top_l >= 0, context, ": attention.top_l = ", select.top_l,
            " must be >= 0; hint: 0 takes top_ratio of the keys, e.g. \"top_l\": 64");
  SPT_CHECK(select.top_l > 0 || (select.top_ratio > 0 && select.top_ratio <= 1), context,
            ": attention.top_ratio = ", select.top_ratio, " must be in (0, 1]; hint: the prototype's is 0.125");
  SPT_CHECK(select.min_l >= 1, context, ": attention.min_l = ", select.min_l, " must be >= 1");
  SPT_CHECK(select.keep_first >= 0 && select.local_window >= 0, context,
            ": attention.keep_first and attention.local_window must be >= 0");
  const int64_t forced = select.keep_first + 2 * select.local_window + 1;
  const int64_t smallest = select.top_l > 0 ? select.top_l : select.min_l;
  SPT_CHECK(select.keep_first + select.local_window == 0 || forced <= smallest, context,
            ": attention.keep_first + 2 * local_window + 1 = ", forced, " keys are always kept but a query may keep only ",
            smallest, " (", select.top_l > 0 ? "top_l" : "min_l", "); hint: raise ",
            select.top_l > 0 ? "top_l" : "min_l", " or shrink keep_first / local_window");
  SPT_CHECK(subvector_dim >= 1 && a.head_dim % subvector_dim == 0, context,
            ": attention.pq.subvector_dim = ", subvector_dim, " does not divide the head size ", a.head_dim,
            " of ", cfg.source, "; hint: use a divisor of ", a.head_dim, " such as ",
            a.head_dim % 8 == 0 ? 8 : (a.head_dim % 4 == 0 ? 4 : 1));
  SPT_CHECK(codewords >= 2 && codewords <= 256, context, ": attention.pq.codewords = ", codewords,
            " must be in [2, 256]; hint: 16 uses the 4-bit fast scan");
  SPT_CHECK(select.rerank >= 1, context, ": attention.pq.rerank = ", select.rerank, " must be >= 1");
  SPT_CHECK(calibration_batches >= 1, context, ": attention.pq.calibration_batches must be >= 1");
  SPT_CHECK(update_every >= 0, context, ": attention.pq.update_every must be >= 0 (0: never)");
  SPT_CHECK(max_samples >= codewords, context, ": attention.pq.max_samples = ", max_samples,
            " must be at least the number of codewords (", codewords, ")");
  for (int64_t l : layers)
    SPT_CHECK(l >= 0 && l < a.layers, context, ": attention.layers names layer ", l, " but ", cfg.source,
              " has layers 0..", a.layers - 1, "; hint: list 0-based layer indices, or leave it empty for all");
}

std::string pq_codebooks_name(int64_t layer) {
  return "layers." + std::to_string(layer) + ".attn.pq_codebooks";
}
std::string pq_counts_name(int64_t layer) { return "layers." + std::to_string(layer) + ".attn.pq_counts"; }

void add_sparse_attention_params(std::vector<ParamInfo>& params, const io::ModelConfig& cfg,
                                 const SparseAttentionOptions& opts) {
  if (!opts.enabled) return;
  const AttentionShape a = attention_shape(cfg);
  const int64_t M = a.head_dim / opts.subvector_dim;
  for (int64_t l = 0; l < a.layers; ++l) {
    if (!opts.is_sparse_layer(l)) continue;
    params.push_back({pq_codebooks_name(l), {a.kv_heads, M, opts.codewords, opts.subvector_dim}, false, false});
    params.push_back({pq_counts_name(l), {a.kv_heads, M, opts.codewords}, false, false});
  }
}

void KeySamples::add(int64_t layer, const Tensor& k, const Tensor& key_mask) {
  const int64_t B = k.dim(0), T = k.dim(1), W = k.dim(2);
  width_ = W;
  std::vector<float>& rows = rows_[layer];
  if (static_cast<int64_t>(rows.size()) / W >= max_) return;
  const std::vector<double> kv = k.to_doubles();
  const std::vector<int64_t> mask = key_mask.defined() ? key_mask.to_ints() : std::vector<int64_t>();
  for (int64_t t = 0; t < B * T; ++t) {
    if (!mask.empty() && mask[t] == 0) continue;
    if (static_cast<int64_t>(rows.size()) / W >= max_) break;
    for (int64_t d = 0; d < W; ++d) rows.push_back(static_cast<float>(kv[t * W + d]));
  }
}

int64_t KeySamples::count(int64_t layer) const {
  const auto it = rows_.find(layer);
  return it == rows_.end() || width_ == 0 ? 0 : static_cast<int64_t>(it->second.size()) / width_;
}

namespace {

// Sub-vectors (n, ds) of head g, sub-space m out of rows (n, Hk*D).
std::vector<float> subvectors(const std::vector<float>& rows, int64_t width, int64_t g, int64_t D,
                              int64_t m, int64_t ds) {
  const int64_t n = static_cast<int64_t>(rows.size()) / width;
  std::vector<float> x(static_cast<size_t>(n * ds));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < ds; ++d) x[i * ds + d] = rows[i * width + g * D + m * ds + d];
  return x;
}

// Nearest centroid (ties: smaller index), and the squared distance.
int64_t nearest(const float* x, const float* cents, int64_t C, int64_t ds, double* dist = nullptr) {
  int64_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t d = 0; d < ds; ++d) {
      const double e = static_cast<double>(x[d]) - cents[c * ds + d];
      s += e * e;
    }
    if (s < best_d) best = c, best_d = s;
  }
  if (dist) *dist = best_d;
  return best;
}

constexpr int kLloydIterations = 25;

// k-means of x (n, ds) into C centroids (cents, C x ds), counts (C).
void kmeans(float* cents, float* counts, const std::vector<float>& x, int64_t n, int64_t C, int64_t ds,
            uint64_t seed) {
  std::mt19937_64 rng(seed);
  // k-means++ seeding.
  std::vector<double> d2(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
  int64_t first = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
  for (int64_t c = 0; c < C; ++c) {
    int64_t pick = first;
    if (c > 0) {
      double total = 0;
      for (double v : d2) total += v;
      if (total > 0) {
        double r = std::uniform_real_distribution<double>(0.0, total)(rng);
        pick = n - 1;
        for (int64_t i = 0; i < n; ++i) {
          r -= d2[i];
          if (r < 0) {
            pick = i;
            break;
          }
        }
      } else {
        pick = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
      }
    }
    for (int64_t d = 0; d < ds; ++d) cents[c * ds + d] = x[pick * ds + d];
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t d = 0; d < ds; ++d) {
        const double e = static_cast<double>(x[i * ds + d]) - cents[c * ds + d];
        s += e * e;
      }
      d2[i] = std::min(d2[i], s);
    }
  }
  // Lloyd iterations; an empty cluster takes the point farthest from its centroid.
  std::vector<int64_t> assign(static_cast<size_t>(n), -1);
  std::vector<double> sum(static_cast<size_t>(C * ds));
  std::vector<int64_t> cnt(static_cast<size_t>(C));
  for (int it = 0; it < kLloydIterations; ++it) {
    bool changed = false;
    std::vector<double> dist(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t a = nearest(&x[i * ds], cents, C, ds, &dist[i]);
      changed = changed || a != assign[i];
      assign[i] = a;
    }
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(cnt.begin(), cnt.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
      ++cnt[assign[i]];
      for (int64_t d = 0; d < ds; ++d) sum[assign[i] * ds + d] += x[i * ds + d];
    }
    for (int64_t c = 0; c < C; ++c) {
      if (cnt[c] > 0) {
        for (int64_t d = 0; d < ds; ++d) cents[c * ds + d] = static_cast<float>(sum[c * ds + d] / cnt[c]);
      } else {
        const int64_t far = std::max_element(dist.begin(), dist.end()) - dist.begin();
        for (int64_t d = 0; d < ds; ++d) cents[c * ds + d] = x[far * ds + d];
        dist[far] = 0;
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (int64_t c = 0; c < C; ++c) counts[c] = static_cast<float>(cnt[c]);
}

}  // namespace

namespace {

// Calls fn(centroids (C, ds), counts (C), subvectors (n, ds), n, seed salt) for
// every (key/value head, sub-space) of every sparse layer with samples, in
// parallel over (head, sub-space) (each task deterministic), on host copies
// that are written back afterwards.
template <class F>
void for_each_codebook(ParameterStore& ps, const io::ModelConfig& cfg, const SparseAttentionOptions& opts,
                       const KeySamples& samples, F&& fn) {
  const AttentionShape a = attention_shape(cfg);
  const int64_t ds = opts.subvector_dim, M = a.head_dim / ds, C = opts.codewords;
  for (const auto& entry : samples.rows()) {
    const int64_t layer = entry.first;  // not a structured binding: the OpenMP loop captures it (clang)
    const auto& rows = entry.second;
    if (!opts.is_sparse_layer(layer)) continue;
    const int64_t width = a.kv_heads * a.head_dim;
    const int64_t n = static_cast<int64_t>(rows.size()) / width;
    Tensor cb = ps.param(pq_codebooks_name(layer)).to(Device::cpu());
    Tensor counts = ps.param(pq_counts_name(layer)).to(Device::cpu());
    float* cbs = cb.data<float>();
    float* cs = counts.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t gm = 0; gm < a.kv_heads * M; ++gm) {
      const int64_t g = gm / M, m = gm % M;
      const std::vector<float> x = subvectors(rows, width, g, a.head_dim, m, ds);
      fn(cbs + gm * C * ds, cs + gm * C, x, n, static_cast<uint64_t>((layer * 4096 + g) * 1024 + m + 1));
    }
    ps.param(pq_codebooks_name(layer)).copy_from(cb);
    ps.param(pq_counts_name(layer)).copy_from(counts);
  }
}

}  // namespace

void kmeans_codebooks(ParameterStore& ps, const io::ModelConfig& cfg, const SparseAttentionOptions& opts,
                      const KeySamples& samples, uint64_t seed) {
  const int64_t ds = opts.subvector_dim, C = opts.codewords;
  for (const auto& [layer, rows] : samples.rows())
    SPT_CHECK(!opts.is_sparse_layer(layer) || samples.count(layer) >= C, "[sparse_attention] layer ", layer,
              ": only ", samples.count(layer), " keys to learn ", C,
              " codewords from; hint: raise attention.pq.calibration_batches");
  for_each_codebook(ps, cfg, opts, samples,
                    [&](float* cents, float* counts, const std::vector<float>& x, int64_t n, uint64_t salt) {
                      kmeans(cents, counts, x, n, C, ds, seed ^ (0x9E3779B97F4A7C15ull * salt));
                    });
}

void update_codebooks(ParameterStore& ps, const io::ModelConfig& cfg, const SparseAttentionOptions& opts,
                      const KeySamples& samples) {
  const int64_t ds = opts.subvector_dim, C = opts.codewords;
  // Sculley's mini-batch k-means: assign the batch, then move each centroid
  // towards its points with rate 1 / (its running count).
  for_each_codebook(ps, cfg, opts, samples,
                    [&](float* cents, float* cnt, const std::vector<float>& x, int64_t n, uint64_t) {
                      std::vector<int64_t> assign(static_cast<size_t>(n));
                      for (int64_t i = 0; i < n; ++i) assign[i] = nearest(&x[i * ds], cents, C, ds);
                      for (int64_t i = 0; i < n; ++i) {
                        const int64_t c = assign[i];
                        cnt[c] += 1.f;
                        const float rate = 1.f / cnt[c];
                        for (int64_t d = 0; d < ds; ++d) cents[c * ds + d] += rate * (x[i * ds + d] - cents[c * ds + d]);
                      }
                    });
}

}  // namespace spt::model
