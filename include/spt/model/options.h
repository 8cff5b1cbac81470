// Run choices that shape a model beyond its Hugging Face config (the
// architecture's "model options"): resolved from the run config, stored in
// checkpoints (config.json "spt"), passed to the model factory, so that
// spt-finetune, spt-predict and spt-bench build the same model.
#pragma once

#include "spt/model/lora.h"
#include "spt/model/routed_ffn.h"
#include "spt/model/sparse_attention.h"

namespace spt::model {

// How a classification head reads a BERT-family encoder (model.pooling): the
// pooler, tanh(W_p h[:, 0] + b_p), on the first token as transformers'
// BertForSequenceClassification does, or the mean of the valid tokens' last
// hidden states as sentence-transformers' mean pooling (the pooler unused and
// frozen). Decoder families read their last token either way.
enum class Pooling { cls, mean };
const char* pooling_name(Pooling p);
// "cls" | "mean"; throws naming `context` otherwise.
Pooling parse_pooling(const std::string& s, const std::string& context);

struct ModelOptions {
  LoraOptions lora;                  // adapters on linear layers (disabled by default)
  SparseAttentionOptions attention;  // sparse attention layers (disabled by default)
  RoutedFfnOptions ffn;              // routed FFN layers (disabled by default)
  Pooling pooling = Pooling::cls;    // classification heads of BERT-family encoders

  // The "spt" object of a checkpoint's config.json: {"lora": {...}, "attention":
  // {...}, "ffn": {...}} for what is enabled, "pooling": "mean" when not cls.
  void write_json(io::Json& spt) const;
  static ModelOptions from_json(const io::Json& spt, const std::string& context);
};

}  // namespace spt::model
