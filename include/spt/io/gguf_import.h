// A LLaMA-architecture GGUF file as a Hugging Face LlamaForCausalLM folder
// (spt-convert import-gguf), the way transformers' own GGUF loader reads it
// (../shared/docs/formats.md 2.4-2.6):
//   * config.json from the `llama.*` hyper-parameters (block_count ->
//     num_hidden_layers, embedding_length -> hidden_size, ...; tied embeddings
//     when the file has no output.weight);
//   * model.safetensors: every tensor dequantised to f32 under its HF name, the
//     rows of attn_q / attn_k put back in HF order (llama.cpp's converter
//     interleaves the two rotary halves of each head: GGUF row 2j + h of a head
//     is HF row h d/2 + j);
//   * tokenizer.json (byte-level BPE from tokenizer.ggml.tokens / merges, control
//     tokens as special added tokens, user-defined ones as added tokens, BOS
//     prepended when add_bos_token) and tokenizer_config.json (special tokens,
//     chat template, model_max_length).
// Other architectures, SentencePiece (`llama`) tokenizers, pre-tokenizers other
// than the GPT-2 pattern, and RoPE scaling other than linear are refused by name.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "spt/core/tensor.h"
#include "spt/io/gguf.h"
#include "spt/io/tensor_reader.h"

namespace spt::io {

struct HfFromGguf {
  nlohmann::ordered_json config;                         // config.json
  std::vector<std::pair<std::string, Tensor>> tensors;  // HF names, f32
  nlohmann::ordered_json tokenizer;                      // tokenizer.json
  nlohmann::ordered_json tokenizer_config;               // tokenizer_config.json
};

// The config alone (cheap: no tensor is read).
nlohmann::ordered_json hf_config_from_gguf(const GgufFile& f);
// Everything, tensors dequantised.
HfFromGguf hf_from_gguf(const GgufFile& f);
// The inverse of llama.cpp's Q/K row permutation for one (heads * d, cols)
// matrix, in place of a copy: HF row h d/2 + j of each head = GGUF row 2j + h.
Tensor unpermute_qk_rows(const Tensor& w, int64_t heads);
// Writes the folder atomically (never replacing a non-empty folder).
void import_gguf(const std::string& gguf_path, const std::string& out_dir);

// A GGUF file as a model source without a folder on disk (model.path pointing
// at a .gguf): the HF config and tokenizer JSON, and a reader of the tensors
// under their HF names, each dequantised (and un-permuted) when loaded.
struct GgufModel {
  nlohmann::ordered_json config, tokenizer, tokenizer_config;
  std::unique_ptr<TensorReader> tensors;
};
GgufModel open_gguf_model(const std::string& path);
// config.json, tokenizer.json and tokenizer_config.json into `dir` (created),
// for the tokenizer loader and for checkpoints to carry.
void write_gguf_tokenizer(const GgufModel& m, const std::string& dir);

}  // namespace spt::io
