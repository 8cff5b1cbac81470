// BERT encoder (post-LN, absolute position and token-type embeddings) with
// pooler, and the sequence-classification / regression head, as Hugging Face's
// BertModel and BertForSequenceClassification compute them.
//
// Dimension legend: B = batch, T = sequence, C = hidden, F = intermediate,
// H = heads, L = labels. Parameter names are spt's canonical names
// (include/spt/io/param_spec.h: "layers.0.attn.q.weight", "classifier.weight").
#pragma once

#include <memory>
#include <vector>

#include "spt/io/model_config.h"
#include "spt/model/layers.h"
#include "spt/model/options.h"
#include "spt/model/model.h"
#include "spt/ops/ops.h"

namespace spt::model {

class BertEncoder {
 public:
  BertEncoder(const io::BertConfig& cfg, ParameterStore& ps,
              const ModelOptions& opts = {});
  ~BertEncoder();
  // Returns the last hidden states (B, T, C); the pooled output (B, C) is pooled().
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx);
  const Tensor& pooled() const;
  // d_pooled (B, C) and/or d_hidden (B, T, C) (either may be undefined).
  void backward(const Tensor& d_pooled, const Tensor& d_hidden);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// BertForSequenceClassification: pooled -> dropout -> classifier (L outputs).
// L = 1 is regression (MSE), otherwise single-label classification (cross-entropy).
class BertClassifier final : public Model {
 public:
  BertClassifier(const io::BertConfig& cfg, int64_t num_labels, ParameterStore& ps,
              const ModelOptions& opts = {});
  ~BertClassifier();
  // Logits (B, L).
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) override;
  double loss(const Tensor& labels, double normalizer = 0) override;
  void backward() override;
  BertEncoder& encoder();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
