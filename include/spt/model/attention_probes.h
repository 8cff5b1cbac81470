// Attention probes for sparse attention: sampling keys for the codebooks, and
// measuring the selection against dense attention (spt/model/sparse_attention.h).
#pragma once

#include <map>
#include <vector>

#include "spt/model/layers.h"
#include "spt/model/model.h"
#include "spt/model/sparse_attention.h"

namespace spt::model {

// Collects every layer's keys into `samples`.
struct KeySampleProbe final : AttentionProbe {
  KeySamples& samples;
  explicit KeySampleProbe(KeySamples& s) : samples(s) {}
  void keys(int64_t layer, const Tensor& k, const Tensor& key_mask) override { samples.add(layer, k, key_mask); }
};

// Accumulates each sparse layer's selection quality on the first `max_items`
// items of every batch, at most `max_rows` query rows per item and head.
struct SelectionQualityProbe final : AttentionProbe {
  std::map<int64_t, SelectionQuality>& out;
  int64_t max_items, max_rows;
  SelectionQualityProbe(std::map<int64_t, SelectionQuality>& q, int64_t items, int64_t rows)
      : out(q), max_items(items), max_rows(rows) {}
  void selection(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& key_mask, const Tensor& idx,
                 const ops::SparseAttentionParams& p) override {
    out[layer].add(measure_selection(q, k, key_mask, idx, p, max_items, max_rows));
  }
};

// Learns the codebooks of a sparse model by k-means on the keys of `calibration`
// (forward passes with dense attention), then measures the selection of every
// sparse layer on `evaluation` (sparse forward passes).
std::map<int64_t, SelectionQuality> calibrate_and_measure(Model& net, ParameterStore& ps, const io::ModelConfig& cfg,
                                                         const SparseAttentionOptions& opts,
                                                         const std::vector<EncoderBatch>& calibration,
                                                         const std::vector<EncoderBatch>& evaluation, uint64_t seed,
                                                         int64_t max_items, int64_t max_rows);

}  // namespace spt::model
