// Run choices that shape a model beyond its Hugging Face config (the
// architecture's "model options"): resolved from the run config, stored in
// checkpoints (config.json "spt"), passed to the model factory, so that
// spt-finetune, spt-predict and spt-bench build the same model.
#pragma once

#include "spt/model/lora.h"
#include "spt/model/routed_ffn.h"
#include "spt/model/sparse_attention.h"

namespace spt::model {

struct ModelOptions {
  LoraOptions lora;                  // adapters on linear layers (disabled by default)
  SparseAttentionOptions attention;  // sparse attention layers (disabled by default)
  RoutedFfnOptions ffn;              // routed FFN layers (disabled by default)

  // The "spt" object of a checkpoint's config.json: {"lora": {...}, "attention":
  // {...}, "ffn": {...}} for what is enabled.
  void write_json(io::Json& spt) const;
  static ModelOptions from_json(const io::Json& spt, const std::string& context);
};

}  // namespace spt::model
