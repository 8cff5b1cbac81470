// LLaMA decoder (pre-RMSNorm, causal, rotary positions, grouped-query
// attention, SwiGLU FFN), as Hugging Face's LlamaModel; with the shared decoder
// heads (spt/model/decoder.h) it is LlamaForCausalLM (lm_head, or tied to the
// embeddings) and LlamaForSequenceClassification (score at the last non-pad token).
//
// Dimension legend: B = batch, T = sequence, C = hidden_size, F =
// intermediate_size, H / Hk = query / key-value heads, D = head_dim.
// Parameter names: include/spt/io/param_spec.h.
#pragma once

#include <memory>

#include "spt/io/model_config.h"
#include "spt/model/decoder.h"
#include "spt/model/options.h"

namespace spt::model {

class LlamaDecoder final : public Decoder {
 public:
  LlamaDecoder(const io::LlamaConfig& cfg, ParameterStore& ps, const ModelOptions& opts = {});
  ~LlamaDecoder();
  // Final hidden states after the last RMSNorm, (B, T, C). batch.token_type_ids is ignored.
  const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) override;
  void backward(const Tensor& d_hidden) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spt::model
