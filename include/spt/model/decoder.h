// Decoder-only models (GPT-2, LLaMA) and the two heads they share, as Hugging
// Face's *ForCausalLM / *ForSequenceClassification:
//
//   causal LM:      logits = h W^T with W = lm_head.weight, or the word
//                   embeddings when tied; loss = mean cross-entropy of token
//                   t+1 given tokens <= t over labels != -100 (labels (B, T) i32,
//                   shifted inside, as transformers).
//   classification: score (L x C, no bias) read at the last token that is not
//                   pad_token_id (without a pad token: the last token the
//                   attention mask keeps, else the last token);
//                   num_labels 1 = regression (MSE).
#pragma once

#include <memory>
#include <optional>

#include "spt/model/model.h"
#include "spt/ops/ops.h"

namespace spt::model {

// A decoder stack: final hidden states (B, T, C) from the batch, and backward
// from their gradient (parameter gradients accumulated).
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) = 0;
  virtual void backward(const Tensor& d_hidden) = 0;
};

class CausalLanguageModel final : public Model {
 public:
  // The head is lm_head.weight when the store has it, else embeddings.word.weight (tied).
  CausalLanguageModel(std::unique_ptr<Decoder> decoder, ParameterStore& ps);
  ~CausalLanguageModel();
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) override;  // (B, T, V)
  // normalizer <= 0: the number of target tokens (labels != -100 after the shift).
  double loss(const Tensor& labels, double normalizer = 0) override;
  void backward() override;
  // Target tokens in `labels` after the shift (for normalising accumulated batches).
  static int64_t count_targets(const Tensor& labels);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class DecoderClassifier final : public Model {
 public:
  DecoderClassifier(std::unique_ptr<Decoder> decoder, ParameterStore& ps, int64_t num_labels,
                    std::optional<int64_t> pad_token_id);
  ~DecoderClassifier();
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) override;  // (B, L)
  double loss(const Tensor& labels, double normalizer = 0) override;
  void backward() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
