// GPT-2 decoder (pre-LN, causal) with the causal-LM head (tied to wte) and the
// sequence-classification head (`score`, no bias, read at the last non-pad
// token), as Hugging Face's GPT2LMHeadModel / GPT2ForSequenceClassification.
//
// Dimension legend: B = batch, T = sequence, C = n_embd, F = n_inner, V = vocab.
// Parameter names are spt's canonical names (include/spt/io/param_spec.h:
// "layers.0.attn.qkv.weight", stored (out, in) like every spt linear; the
// Conv1D (in, out) weights of Hugging Face checkpoints are transposed on load).
#pragma once

#include <memory>
#include <vector>

#include "spt/io/model_config.h"
#include "spt/model/layers.h"
#include "spt/model/options.h"
#include "spt/model/model.h"
#include "spt/ops/ops.h"

namespace spt::model {

class Gpt2Decoder {
 public:
  Gpt2Decoder(const io::Gpt2Config& cfg, ParameterStore& ps,
              const ModelOptions& opts = {});
  ~Gpt2Decoder();
  // Final hidden states after ln_f, (B, T, C). batch.token_type_ids is ignored.
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx);
  // d_hidden (B, T, C); accumulates parameter gradients.
  void backward(const Tensor& d_hidden);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GPT2LMHeadModel: logits = h wte^T; loss = mean cross-entropy of token t+1 given
// tokens <= t over labels != -100 (labels (B, T) i32; shifted inside, as transformers).
class Gpt2LanguageModel final : public Model {
 public:
  Gpt2LanguageModel(const io::Gpt2Config& cfg, ParameterStore& ps,
              const ModelOptions& opts = {});
  ~Gpt2LanguageModel();
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

// GPT2ForSequenceClassification: score (L x C, no bias) at the last token that is
// not pad_token_id (the last token when the config has no pad token).
class Gpt2Classifier final : public Model {
 public:
  Gpt2Classifier(const io::Gpt2Config& cfg, int64_t num_labels, ParameterStore& ps,
              const ModelOptions& opts = {});
  ~Gpt2Classifier();
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) override;  // (B, L)
  double loss(const Tensor& labels, double normalizer = 0) override;
  void backward() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
