// BERT encoder (post-LN, absolute position and token-type embeddings) with
// pooler, and the sequence-classification / regression head, as Hugging Face's
// BertModel and BertForSequenceClassification compute them.
//
// Dimension legend: B = batch, T = sequence, C = hidden, F = intermediate,
// H = heads, L = labels. Parameter names are Hugging Face's BertModel names
// without the "bert." prefix ("encoder.layer.0.attention.self.query.weight"),
// plus "classifier.weight" / "classifier.bias" for the head.
#pragma once

#include <memory>
#include <vector>

#include "spt/io/model_config.h"
#include "spt/model/layers.h"
#include "spt/ops/ops.h"

namespace spt::model {

// One batch of encoder inputs, all (B, T) i32 on the model's device.
struct EncoderBatch {
  Tensor input_ids;
  Tensor token_type_ids;  // undefined: all zeros
  Tensor attention_mask;  // 1 = token, 0 = padding; undefined: no padding
};

// Parameter list of BertModel (+ classifier head when num_labels > 0).
std::vector<ParamInfo> bert_param_infos(const io::BertConfig& cfg, int64_t num_labels);

class BertEncoder {
 public:
  BertEncoder(const io::BertConfig& cfg, ParameterStore& ps);
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
class BertClassifier {
 public:
  BertClassifier(const io::BertConfig& cfg, int64_t num_labels, ParameterStore& ps);
  ~BertClassifier();
  // Logits (B, L).
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx);
  // Loss of the last forward against labels: (B) i32 class ids, or (B) f32 for
  // regression; divided by `normalizer` (<= 0: the batch size).
  double loss(const Tensor& labels, double normalizer = 0);
  // Backward from the last loss() (dloss = 1), accumulating parameter gradients.
  void backward();
  BertEncoder& encoder();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
