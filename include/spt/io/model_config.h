// Hugging Face config.json for the model families spt knows: BERT, GPT-2,
// LLaMA (with the RoPE scaling types default, linear, dynamic, llama3) and OPT.
//
// Defaults are exactly those of transformers (5.x) for keys a file omits,
// e.g. GPT-2 n_inner null -> 4 * n_embd and activation_function "gelu_new";
// BERT hidden_act "gelu" (erf), layer_norm_eps 1e-12, type_vocab_size 2;
// LLaMA num_key_value_heads -> num_attention_heads, head_dim -> hidden /
// heads, rope_theta 10000, tie_word_embeddings false; OPT
// word_embed_proj_dim -> hidden_size, do_layer_norm_before true, relu. Unlike transformers,
// the sizes that fix tensor shapes are required (a config without
// hidden_size is broken, not a request for 768): a missing one is an error
// naming the key and the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spt/backend/backend.h"
#include "spt/io/json_util.h"

namespace spt::io {

enum class ModelFamily { bert, gpt2, llama, opt };
const char* family_name(ModelFamily f);

struct BertConfig {
  int64_t vocab_size = 0, hidden_size = 0, num_hidden_layers = 0, num_attention_heads = 0,
          intermediate_size = 0;                       // required
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  std::string hidden_act = "gelu";                     // erf GELU
  Activation activation = Activation::gelu_erf;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::optional<double> classifier_dropout;           // null: hidden_dropout_prob
  std::optional<int64_t> pad_token_id = 0;
};

struct Gpt2Config {
  int64_t vocab_size = 0, n_embd = 0, n_layer = 0, n_head = 0;  // required
  int64_t n_positions = 1024;
  int64_t n_inner = 0;                                 // null in the file: 4 * n_embd
  std::string activation_function = "gelu_new";        // tanh GELU
  Activation activation = Activation::gelu_tanh;
  double layer_norm_epsilon = 1e-5;
  double resid_pdrop = 0.1, embd_pdrop = 0.1, attn_pdrop = 0.1;
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;
  bool reorder_and_upcast_attn = false;
  std::optional<int64_t> bos_token_id = 50256, eos_token_id = 50256, pad_token_id;
};

struct LlamaConfig {
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0,
          num_attention_heads = 0;                     // required
  int64_t num_key_value_heads = 0;                     // null: num_attention_heads
  int64_t head_dim = 0;                                // null: hidden_size / heads
  int64_t max_position_embeddings = 2048;
  std::string hidden_act = "silu";
  Activation activation = Activation::silu;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;                         // rope_parameters.rope_theta, or legacy key
  // RoPE scaling (rope_scaling / rope_parameters): default, linear, dynamic or llama3.
  std::string rope_type = "default";
  double rope_factor = 1.0;                            // linear, dynamic, llama3
  double rope_low_freq_factor = 1.0, rope_high_freq_factor = 4.0;  // llama3
  int64_t rope_original_max_position_embeddings = 0;   // llama3
  bool attention_bias = false, mlp_bias = false;
  double attention_dropout = 0.0;
  std::optional<int64_t> bos_token_id = 1, eos_token_id = 2, pad_token_id;
};

struct OptConfig {
  int64_t vocab_size = 0, hidden_size = 0, num_hidden_layers = 0, ffn_dim = 0,
          num_attention_heads = 0;                     // required
  int64_t max_position_embeddings = 2048;
  int64_t word_embed_proj_dim = 0;                     // null: hidden_size
  bool do_layer_norm_before = true;                    // false: post-LN (OPT-350m)
  bool remove_final_layer_norm = false;                // _remove_final_layer_norm
  bool enable_bias = true;
  std::string activation_function = "relu";
  Activation activation = Activation::relu;
  double dropout = 0.1, attention_dropout = 0.0;
  std::optional<int64_t> bos_token_id = 2, eos_token_id = 2, pad_token_id = 1;
  // Embedding and hidden widths differ (OPT-350m): project_in / project_out.
  bool projects() const { return word_embed_proj_dim != hidden_size; }
  // The decoder ends with final_layer_norm.
  bool final_norm() const { return do_layer_norm_before && !remove_final_layer_norm; }
};

struct ModelConfig {
  ModelFamily family = ModelFamily::bert;
  std::string model_type;                  // as written in the file
  std::vector<std::string> architectures;  // e.g. "BertForSequenceClassification"
  int64_t num_labels = 2;                  // len(id2label) when given, else num_labels, else 2
  std::optional<std::string> problem_type;
  bool tie_word_embeddings = true;         // family default: true, llama false
  BertConfig bert;                         // valid when family == bert
  Gpt2Config gpt2;                         // valid when family == gpt2
  LlamaConfig llama;                       // valid when family == llama
  OptConfig opt;                           // valid when family == opt
  Json raw;                                // the file as read (keys spt does not use survive)
  std::string source;                      // the file, for messages

  int64_t vocab_size() const;
  int64_t hidden_size() const;
  int64_t num_layers() const;
  int64_t num_heads() const;
  // Positions the model holds (max_position_embeddings / n_positions).
  int64_t max_positions() const;
};

// Parses a config object; `source` names it in errors. Throws spt::Error for
// an unsupported model_type (listing the supported ones), a missing required
// key, a wrong type or an invalid value (naming key and file).
ModelConfig parse_model_config(const Json& j, const std::string& source);
// Reads `path` (a config.json, or a folder holding one).
ModelConfig load_model_config(const std::string& path);

// The model types spt parses, for messages: "bert, gpt2, llama, opt".
std::string supported_model_types();

}  // namespace spt::io
