// The common tokenizer interface: encode single texts and pairs into ids, tokens,
// token type ids and attention masks, with Hugging Face's special tokens, truncation
// and padding semantics (tokenizers 0.23, as transformers' fast tokenizers call it).
//
//   auto tok = spt::tokenize::load_tokenizer("models/bert-base-uncased");
//   EncodeOptions o; o.truncation = Truncation::longest_first; o.max_length = 128;
//   Encoding e = tok->encode_pair("a question", "a passage", o);
//
// Families: WordPiece (BERT), byte-level BPE (GPT-2), SentencePiece (LLaMA, T5, ALBERT).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spt/tokenize/special_tokens.h"

namespace spt::tokenize {

// HF truncation strategies. longest_first on a pair keeps the shorter sequence whole
// when it fits in half the budget, else gives each half (the second one the odd
// token); only_first / only_second cut one sequence and fail when it is too short.
enum class Truncation { none, longest_first, only_first, only_second };
enum class Padding { none, longest, max_length };
enum class Side { right, left };

// The largest vocabulary (and token id + 1) a tokenizer file may give: real
// ones have at most a few hundred thousand; a file claiming more is refused
// before tables of that size are allocated.
constexpr int32_t kMaxVocabSize = int32_t{1} << 24;

struct EncodeOptions {
  bool add_special_tokens = true;
  Truncation truncation = Truncation::none;
  // Budget including the special tokens; required by truncation and Padding::max_length.
  std::optional<size_t> max_length;
  Padding padding = Padding::none;    // longest: to the longest in the batch
  std::optional<Side> padding_side;   // default: the tokenizer's (LLaMA left, others right)
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  std::vector<int32_t> type_ids;
  std::vector<int32_t> attention_mask;  // 1 = real token, 0 = padding
  size_t size() const { return ids.size(); }
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "wordpiece", "bpe" (byte-level) or "sentencepiece".
  virtual std::string family() const = 0;
  virtual size_t vocab_size() const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;

  // Text of `id`, added tokens included (id_to_token knows the model's vocabulary only).
  std::string token_text(int32_t id) const;

  // Model ids of `text` without template tokens; special tokens written in the text
  // ("[MASK]", "<|endoftext|>") are recognised as HF does. Throws on invalid UTF-8.
  std::vector<int32_t> tokenize(std::string_view text) const;

  Encoding encode(std::string_view text, const EncodeOptions& opt = {}) const;
  Encoding encode_pair(std::string_view a, std::string_view b, const EncodeOptions& opt = {}) const;
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                     const EncodeOptions& opt = {}) const;
  std::vector<Encoding> encode_batch(const std::vector<std::pair<std::string, std::string>>& pairs,
                                     const EncodeOptions& opt = {}) const;

  // Text of `ids`, special tokens dropped when `skip_special`.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const = 0;

  const SpecialTokens& special() const { return special_; }
  SpecialTokens& special() { return special_; }

 protected:
  // Appends the ids of `segment`, a piece of one sequence holding no added token;
  // `at_start` tells whether it begins at offset 0 of its sequence.
  virtual void encode_segment(std::string_view segment, bool at_start,
                              std::vector<int32_t>& out) const = 0;

  SpecialTokens special_;

 private:
  Encoding finish(std::vector<int32_t> a, std::optional<std::vector<int32_t>> b,
                  const EncodeOptions& opt) const;
  void pad(std::vector<Encoding>& batch, const EncodeOptions& opt) const;
};

// Loads a tokenizer from a model folder (tokenizer.json, vocab.txt, vocab.json +
// merges.txt, tokenizer.model; settings from tokenizer_config.json, config.json and
// special_tokens_map.json) or from a single tokenizer file of those kinds.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

const char* to_string(Truncation t);
// Parses "longest_first", "only_first", "only_second", "none"; throws otherwise.
Truncation parse_truncation(std::string_view s);

}  // namespace spt::tokenize
