// Sparse attention in the models (the config's `attention` section;
// docs/sparse-attention.md): which layers are sparse, how many keys each query
// keeps, and the PQ codebooks those layers select with.
//
// Codebooks are state, not trained parameters: per sparse layer l
//   layers.<l>.attn.pq_codebooks  (Hk, M, C, D/M)  codewords
//   layers.<l>.attn.pq_counts     (Hk, M, C)       samples each codeword has absorbed
// frozen in the ParameterStore (no gradient, no AdamW moments), saved in
// checkpoints (spt_tensors.safetensors) and restored by --resume. They are
// learned from the model's own keys: k-means on calibration batches before the
// first step, then mini-batch k-means (each codeword moves towards the mean of
// the keys assigned to it with rate 1 / count, so the rate decays) every
// update_every steps as the keys drift. Everything is seeded and deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "spt/io/json_util.h"
#include "spt/io/model_config.h"
#include "spt/model/parameters.h"
#include "spt/ops/sparse_attention.h"

namespace spt::model {

struct SparseAttentionOptions {
  bool enabled = false;           // attention.type == "sparse"
  ops::SparseSelection select;    // top_l / top_ratio / min_l / keep_first / local_window / rerank
  std::vector<int64_t> layers;    // sparse layers (empty: all)
  int64_t subvector_dim = 8;      // D / M
  int64_t codewords = 16;         // C
  int64_t calibration_batches = 4;
  int64_t update_every = 50;      // 0: codebooks fixed after calibration
  int64_t max_samples = 16384;    // keys per layer used by k-means / one update
  SparseKernel cuda_kernel = SparseKernel::fused;  // attention.cuda.kernel
  bool deterministic = false;                                 // attention.cuda.deterministic

  bool is_sparse_layer(int64_t layer) const;
  // What checkpoints store (config.json "spt"."attention") and read back.
  io::Json to_json() const;
  static SparseAttentionOptions from_json(const io::Json& j, const std::string& context);
  // Checks the options against the model (head size, layer indices, budgets);
  // errors start with `context` and say how to fix the setting.
  void validate(const io::ModelConfig& cfg, const std::string& context) const;
};

// Attention geometry of a model: layers, query heads, key/value heads, head size.
struct AttentionShape {
  int64_t layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
};
AttentionShape attention_shape(const io::ModelConfig& cfg);

std::string pq_codebooks_name(int64_t layer);
std::string pq_counts_name(int64_t layer);

// Adds the codebook and count tensors of every sparse layer (frozen).
void add_sparse_attention_params(std::vector<ParamInfo>& params, const io::ModelConfig& cfg,
                                 const SparseAttentionOptions& opts);

// Keys gathered from forward passes, per layer, for k-means: up to max_samples
// rows of (Hk * D) floats from real (unpadded) tokens.
class KeySamples {
 public:
  explicit KeySamples(int64_t max_samples) : max_(max_samples) {}
  // k (B, T, Hk*D), key_mask (B, T) i32 or undefined.
  void add(int64_t layer, const Tensor& k, const Tensor& key_mask);
  const std::map<int64_t, std::vector<float>>& rows() const { return rows_; }
  int64_t count(int64_t layer) const;
  void clear() { rows_.clear(); }

 private:
  int64_t max_;
  std::map<int64_t, std::vector<float>> rows_;
  int64_t width_ = 0;
};

// k-means (k-means++ seeding, Lloyd iterations) of every sparse layer's codebooks
// from the samples; counts set to the cluster sizes. Layers without samples are
// left as they are.
void kmeans_codebooks(ParameterStore& ps, const io::ModelConfig& cfg,
                      const SparseAttentionOptions& opts, const KeySamples& samples,
                      uint64_t seed);
// One mini-batch k-means update of every sparse layer's codebooks.
void update_codebooks(ParameterStore& ps, const io::ModelConfig& cfg,
                      const SparseAttentionOptions& opts, const KeySamples& samples);

// How well a selection did, against dense attention on the same q and k: for a
// query row that kept c of its n > c visible keys, the share of the softmax mass
// the chosen keys carry relative to the mass of the true top c keys, and the
// recall of those top c indices. Rows keeping all their keys are not counted.
struct SelectionQuality {
  double mass = 0, recall = 0;  // sums over counted rows
  int64_t rows = 0;
  void add(const SelectionQuality& o) {
    mass += o.mass;
    recall += o.recall;
    rows += o.rows;
  }
  double mean_mass() const { return rows ? mass / static_cast<double>(rows) : 1.0; }
  double mean_recall() const { return rows ? recall / static_cast<double>(rows) : 1.0; }
};

// Measures a selection idx (B, H, Tq, L) on the first `max_items` batch items,
// at most `max_rows` query rows (evenly strided) per item and head, on the host.
SelectionQuality measure_selection(const Tensor& q, const Tensor& k, const Tensor& key_mask,
                                   const Tensor& idx, const ops::SparseAttentionParams& p,
                                   int64_t max_items, int64_t max_rows);

}  // namespace spt::model
