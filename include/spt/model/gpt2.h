// GPT-2 decoder (pre-LN, causal), as Hugging Face's GPT2Model; its causal-LM
// head (GPT2LMHeadModel, tied to wte unless the config unties it) and
// sequence-classification head (GPT2ForSequenceClassification) are the shared
// decoder heads (spt/model/decoder.h).
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
#include "spt/model/decoder.h"
#include "spt/model/model.h"
#include "spt/ops/ops.h"

namespace spt::model {

class Gpt2Decoder final : public Decoder {
 public:
  Gpt2Decoder(const io::Gpt2Config& cfg, ParameterStore& ps,
              const ModelOptions& opts = {});
  ~Gpt2Decoder();
  // Final hidden states after ln_f, (B, T, C). batch.token_type_ids is ignored.
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) override;
  // d_hidden (B, T, C); accumulates parameter gradients.
  void backward(const Tensor& d_hidden) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
