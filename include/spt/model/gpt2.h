// GPT-2 decoder (pre-LN, causal) with the causal-LM head (tied to wte) and the
// sequence-classification head (`score`, no bias, read at the last non-pad
// token), as Hugging Face's GPT2LMHeadModel / GPT2ForSequenceClassification.
//
// Dimension legend: B = batch, T = sequence, C = n_embd, F = n_inner, V = vocab.
// Parameter names are transformers' GPT2Model names without "transformer."
// ("h.0.attn.c_attn.weight"), but Linear weights are stored (out, in) like every
// spt linear (transformers' Conv1D stores them (in, out): transposed on load).
#pragma once

#include <memory>
#include <vector>

#include "spt/io/model_config.h"
#include "spt/model/bert.h"
#include "spt/model/layers.h"

namespace spt::model {

// Parameter list of GPT2Model (+ "score.weight" when num_labels > 0).
std::vector<ParamInfo> gpt2_param_infos(const io::Gpt2Config& cfg, int64_t num_labels);
// Whether a parameter is stored transposed in Hugging Face checkpoints (Conv1D).
bool gpt2_is_conv1d(const std::string& name);

class Gpt2Decoder {
 public:
  Gpt2Decoder(const io::Gpt2Config& cfg, ParameterStore& ps);
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
class Gpt2LanguageModel {
 public:
  Gpt2LanguageModel(const io::Gpt2Config& cfg, ParameterStore& ps);
  ~Gpt2LanguageModel();
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx);  // (B, T, V)
  // normalizer <= 0: the number of target tokens (labels != -100 after the shift).
  double loss(const Tensor& labels, double normalizer = 0);
  void backward();
  // Target tokens in `labels` after the shift (for normalising accumulated batches).
  static int64_t count_targets(const Tensor& labels);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GPT2ForSequenceClassification: score (L x C, no bias) at the last token that is
// not pad_token_id (the last token when the config has no pad token).
class Gpt2Classifier {
 public:
  Gpt2Classifier(const io::Gpt2Config& cfg, int64_t num_labels, ParameterStore& ps);
  ~Gpt2Classifier();
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx);  // (B, L)
  double loss(const Tensor& labels, double normalizer = 0);
  void backward();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
