// Selection quality of sparse attention (spt/model/sparse_attention.h): the
// softmax mass the chosen keys carry relative to the true top keys, and the
// recall of the true top indices, computed on the host in double precision.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "spt/backend/sparse_attention_math.h"
#include "spt/model/attention_probes.h"
#include "spt/model/sparse_attention.h"

namespace spt::model {

SelectionQuality measure_selection(const Tensor& q, const Tensor& k, const Tensor& key_mask,
                                   const Tensor& idx, const ops::SparseAttentionParams& p,
                                   int64_t max_items, int64_t max_rows) {
  SelectionQuality out;
  const int64_t B = std::min<int64_t>(q.dim(0), max_items), Tq = q.dim(1), Tk = k.dim(1);
  const int64_t H = p.heads, Hk = p.kv_heads > 0 ? p.kv_heads : H, D = q.dim(2) / H, L = idx.dim(3);
  const double scale = p.scale > 0 ? p.scale : 1.0 / std::sqrt(static_cast<double>(D));
  if (B <= 0) return out;
  const std::vector<double> qs = q.narrow0(0, B).to_doubles(), ks = k.narrow0(0, B).to_doubles();
  const std::vector<int64_t> is = idx.narrow0(0, B).to_ints();
  const std::vector<int64_t> ms = key_mask.defined() ? key_mask.narrow0(0, B).to_ints() : std::vector<int64_t>();
  const int64_t stride = std::max<int64_t>(1, (Tq + max_rows - 1) / std::max<int64_t>(max_rows, 1));
  std::vector<double> s;
  std::vector<int64_t> vis, order;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; i += stride) {
        const int64_t end = sparse::causal_end(i, Tq, Tk, p.causal);
        vis.clear();
        for (int64_t j = 0; j < end; ++j)
          if (ms.empty() || ms[b * Tk + j] != 0) vis.push_back(j);
        const int64_t* row = is.data() + ((b * H + h) * Tq + i) * L;
        int64_t c = 0;
        while (c < L && row[c] >= 0) ++c;
        const int64_t n = static_cast<int64_t>(vis.size());
        if (c == 0 || c >= n) continue;
        // Dense softmax over the visible keys.
        s.assign(static_cast<size_t>(Tk), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j : vis) {
          double x = 0;
          for (int64_t d = 0; d < D; ++d)
            x += qs[((b * Tq + i) * H + h) * D + d] * ks[((b * Tk + j) * Hk + h / (H / Hk)) * D + d];
          s[j] = scale * x;
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int64_t j : vis) z += std::exp(s[j] - mx);
        order = vis;
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b2) { return s[a] > s[b2]; });
        double top = 0, chosen = 0;
        int64_t hit = 0;
        for (int64_t t = 0; t < c; ++t) top += std::exp(s[order[t]] - mx) / z;
        for (int64_t t = 0; t < c; ++t) {
          chosen += std::exp(s[row[t]] - mx) / z;
          hit += std::find(order.begin(), order.begin() + c, row[t]) != order.begin() + c;
        }
        out.mass += top > 0 ? chosen / top : 1.0;
        out.recall += static_cast<double>(hit) / static_cast<double>(c);
        ++out.rows;
      }
  return out;
}

std::map<int64_t, SelectionQuality> calibrate_and_measure(Model& net, ParameterStore& ps, const io::ModelConfig& cfg,
                                                         const SparseAttentionOptions& opts,
                                                         const std::vector<EncoderBatch>& calibration,
                                                         const std::vector<EncoderBatch>& evaluation, uint64_t seed,
                                                         int64_t max_items, int64_t max_rows) {
  KeySamples samples(opts.max_samples);
  KeySampleProbe keys(samples);
  StepContext ctx;
  ctx.probe = &keys;
  ctx.dense_attention = true;
  for (const EncoderBatch& b : calibration) net.forward(b, ctx);
  kmeans_codebooks(ps, cfg, opts, samples, seed);
  std::map<int64_t, SelectionQuality> out;
  SelectionQualityProbe quality(out, max_items, max_rows);
  StepContext ectx;
  ectx.probe = &quality;
  for (const EncoderBatch& b : evaluation) net.forward(b, ectx);
  return out;
}

}  // namespace spt::model
