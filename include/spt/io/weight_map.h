// Mapping Hugging Face checkpoint tensors onto spt's parameters and back.
//
// Loading accepts the names transformers writes with and without the base
// model prefix ("bert." / "transformer."), legacy LayerNorm.gamma/beta,
// GPT-2 Conv1D weights ([in, out], transposed to spt's [out, in]); it skips
// buffers (position_ids, GPT-2 attn.bias / attn.masked_bias) and heads the
// model does not use (BERT cls.*), and ties GPT-2's lm_head to the word
// embeddings. Missing or mis-shaped tensors are collected into ONE error
// that lists every problem with expected and found shapes; head parameters
// absent from the checkpoint are returned as "newly initialised" for the
// caller to initialise and log, as transformers warns.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "spt/io/param_spec.h"
#include "spt/io/tensor_reader.h"

namespace spt::io {

// One spt parameter and where it lives in a Hugging Face checkpoint.
struct ParamMapping {
  ParamSpec spec;
  std::string hf;                   // name without the base-model prefix
  std::vector<std::string> hf_alt;  // legacy spellings accepted on load
  bool in_base = true;              // under the base-model prefix (heads are not)
  bool transpose = false;           // stored [in, out] (GPT-2 Conv1D)
};

std::vector<ParamMapping> param_mappings(const ModelConfig& c, ModelHead head);
// "bert." / "transformer." (what transformers' *For* classes write).
std::string base_prefix(ModelFamily f);

struct LoadedWeights {
  std::vector<std::pair<std::string, Tensor>> params;  // spt name -> tensor, spec order
  std::vector<std::string> newly_initialized;  // spt names of head params the checkpoint lacks
  std::vector<std::string> ignored;  // checkpoint tensors skipped on purpose (buffers, other heads)
  std::vector<std::string> unused;   // checkpoint tensors that match no parameter
  std::string prefix;                // base-model prefix found ("" or "bert." ...)
};

// Loads every parameter of (c, head) from `ckpt` as `dtype`.
LoadedWeights load_weights(const ModelConfig& c, const TensorReader& ckpt, ModelHead head,
                           DType dtype = DType::f32);

// Hugging Face names and layouts for spt parameters (the inverse of
// load_weights): the base prefix is used whenever there is a head, as the
// transformers class for that head writes it; Conv1D weights are transposed
// back; a tied lm_head is not written (transformers re-ties it).
std::vector<std::pair<std::string, Tensor>> to_hf_tensors(
    const ModelConfig& c, ModelHead head, const std::vector<std::pair<std::string, Tensor>>& params);

// Transposes a 2-D contiguous CPU tensor (any dtype).
Tensor transpose2d(const Tensor& t);

}  // namespace spt::io
