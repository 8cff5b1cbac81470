// spt's canonical parameter names and shapes for BERT, GPT-2, LLaMA and OPT, generated
// from a ModelConfig: the contract between checkpoint loading (weight_map.h)
// and the models. Linear weights are [out, in] (GPT-2's Conv1D [in, out]
// weights are transposed on load); GPT-2 keeps q, k, v fused as attn.qkv.
//
//   BERT                                   GPT-2
//   embeddings.word.weight      [V, C]     embeddings.word.weight      [V, C]
//   embeddings.position.weight  [P, C]     embeddings.position.weight  [P, C]
//   embeddings.token_type.weight[T, C]     layers.i.attn_norm.{weight,bias} [C]
//   embeddings.norm.{weight,bias}   [C]    layers.i.attn.qkv.weight   [3C, C]
//   layers.i.attn.{q,k,v}.weight [C, C]    layers.i.attn.qkv.bias     [3C]
//   layers.i.attn.{q,k,v}.bias   [C]       layers.i.attn.out.{weight [C, C], bias [C]}
//   layers.i.attn.out.{weight [C, C], bias [C]}
//   layers.i.attn_norm.{weight,bias} [C]   layers.i.ffn_norm.{weight,bias} [C]
//   layers.i.ffn.up.{weight [F, C], bias [F]}  (both)
//   layers.i.ffn.down.{weight [C, F], bias [C]}  (both)
//   layers.i.ffn_norm.{weight,bias} [C]    final_norm.{weight,bias}   [C]
//   pooler.{weight [C, C], bias [C]}       lm_head.weight [V, C] (only when untied)
//   classifier.{weight [L, C], bias [L]}   classifier.weight [L, C] (HF "score", no bias)
//
//   LLaMA: embeddings.word.weight [V, C]; layers.i.attn_norm.weight [C];
//   layers.i.attn.{q [H*D, C], k [Hk*D, C], v [Hk*D, C], out [C, H*D]}.weight
//   (+ .bias with attention_bias); layers.i.ffn_norm.weight [C];
//   layers.i.ffn.{gate [F, C], up [F, C], down [C, F]}.weight (+ .bias with
//   mlp_bias); final_norm.weight [C]; lm_head.weight [V, C] (untied);
//   classifier.weight [L, C] (HF "score").
//   OPT: embeddings.word.weight [V, E]; embeddings.position.weight [P + 2, C];
//   embeddings.project_in.weight [C, E] (when E != C); layers.i.attn_norm,
//   layers.i.ffn_norm, final_norm (when do_layer_norm_before): {weight,bias} [C];
//   layers.i.attn.{q,k,v,out} [C, C] and ffn.up [F, C], ffn.down [C, F] (+ biases
//   with enable_bias); project_out.weight [E, C] (when E != C); lm_head [V, E]
//   (untied); classifier.weight [L, E] (HF "score").
//
// V vocab, P positions, T token types, C hidden, F FFN inner size, L labels,
// H / Hk query / key-value heads, D head_dim, E OPT's word_embed_proj_dim.
#pragma once

#include <string>
#include <vector>

#include "spt/core/tensor.h"
#include "spt/io/model_config.h"

namespace spt::io {

// Which Hugging Face model class the weights belong to.
enum class ModelHead {
  none,                     // BertModel (with pooler) / GPT2Model
  sequence_classification,  // BertForSequenceClassification / GPT2ForSequenceClassification
  causal_lm,                // GPT2LMHeadModel (lm_head tied to the word embeddings by default)
};
const char* head_name(ModelHead h);
// Parses "none", "classification", "causal_lm"; throws naming the valid ones.
ModelHead head_from_name(const std::string& name);
// The head implied by the config's "architectures" ("...ForSequenceClassification",
// "...LMHeadModel" / "...ForCausalLM"); none otherwise.
ModelHead head_from_architectures(const ModelConfig& c);
// "BertForSequenceClassification", "GPT2LMHeadModel", ...
std::string hf_architecture(const ModelConfig& c, ModelHead head);

struct ParamSpec {
  std::string name;   // spt name
  Shape shape;        // spt layout
  bool head = false;  // may be newly initialised when a checkpoint lacks it (pooler, classifier)
};

// The parameters of the model for `c` with `head`, in a fixed order.
// Throws for unsupported heads.
std::vector<ParamSpec> param_specs(const ModelConfig& c, ModelHead head);

// Total elements of `specs`.
int64_t count_params(const std::vector<ParamSpec>& specs);

}  // namespace spt::io
