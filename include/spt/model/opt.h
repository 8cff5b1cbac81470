// OPT decoder (causal, learned positions with OPT's offset of 2, layer norms
// before or after each sub-block, ReLU FFN, optional project_in/project_out),
// as Hugging Face's OPTModel; with the shared decoder heads
// (spt/model/decoder.h) it is OPTForCausalLM (tied to the embeddings unless
// untied) and OPTForSequenceClassification (score at the last non-pad token).
//
// Dimension legend: B = batch, T = sequence, C = hidden_size, F = ffn_dim,
// E = word_embed_proj_dim. Parameter names: include/spt/io/param_spec.h.
#pragma once

#include <memory>

#include "spt/io/model_config.h"
#include "spt/model/decoder.h"
#include "spt/model/options.h"

namespace spt::model {

class OptDecoder final : public Decoder {
 public:
  OptDecoder(const io::OptConfig& cfg, ParameterStore& ps, const ModelOptions& opts = {});
  ~OptDecoder();
  // Final hidden states (B, T, E) after final_layer_norm and project_out (when
  // the model has them). batch.token_type_ids is ignored.
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) override;
  void backward(const Tensor& d_hidden) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
