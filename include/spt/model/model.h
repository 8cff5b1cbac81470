// The model interface the trainer drives, and the factory that builds a model
// (BERT or GPT-2, with its head) over a ParameterStore laid out from the
// checkpoint's config (spt's canonical names, include/spt/io/param_spec.h).
#pragma once

#include <memory>
#include <vector>

#include "spt/io/model_config.h"
#include "spt/io/param_spec.h"
#include "spt/model/layers.h"
#include "spt/model/options.h"

namespace spt::model {

// One batch of inputs, all (B, T) i32 on the model's device.
struct EncoderBatch {
  Tensor input_ids;
  Tensor token_type_ids;  // undefined: all zeros (ignored by GPT-2)
  Tensor attention_mask;  // 1 = token, 0 = padding; undefined: no padding
};

class Model {
 public:
  virtual ~Model() = default;
  // Logits: (B, L) for classification / regression, (B, T, V) for causal LM.
  virtual const Tensor& forward(const EncoderBatch& batch, const StepContext& ctx) = 0;
  // Loss of the last forward: labels (B) i32 class ids, (B) f32 regression
  // targets, or (B, T) i32 tokens for causal LM (-100 = ignore). The summed loss
  // is divided by `normalizer` (<= 0: the number of targets in this batch).
  virtual double loss(const Tensor& labels, double normalizer = 0) = 0;
  // Backward from the last loss() with dloss = 1: accumulates parameter gradients.
  virtual void backward() = 0;
};

// The parameters of (config, head): names and shapes from io::param_specs, no
// weight decay on biases and normalisation weights; with LoRA enabled in `opts`,
// plus the adapters, and only PEFT's trainable set trainable (spt/model/lora.h).
std::vector<ParamInfo> model_param_infos(const io::ModelConfig& cfg, io::ModelHead head,
                                         const ModelOptions& opts = {});

// Builds the model; `ps` must have been laid out from model_param_infos(cfg, head, opts).
// Heads: BERT none (not trainable alone) / classification (num_labels 1 = regression);
// GPT-2 classification / causal_lm.
std::unique_ptr<Model> make_model(const io::ModelConfig& cfg, io::ModelHead head, ParameterStore& ps,
                                  const ModelOptions& opts = {});

}  // namespace spt::model
