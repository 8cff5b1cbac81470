// BERT WordPiece: HF's BertNormalizer (clean text, CJK splitting, accent stripping,
// lowercasing), BertPreTokenizer (whitespace, then punctuation isolated) and greedy
// longest-match-first WordPiece with a "##" continuing prefix.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "spt/tokenize/tokenizer.h"

namespace spt::tokenize {

struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // none: follow `lowercase`
  bool lowercase = true;
};

// Normalised text of `text` (UTF-32) as HF's BertNormalizer computes it.
std::u32string bert_normalize(std::u32string_view text, const BertNormalizerOptions& opt);
// Words of normalised text: split at whitespace, punctuation isolated.
std::vector<std::u32string> bert_pre_tokenize(std::u32string_view text);

class WordPieceTokenizer : public Tokenizer {
 public:
  // `vocab` in id order (vocab.txt); specials are set by the loader.
  WordPieceTokenizer(std::vector<std::string> vocab, BertNormalizerOptions norm,
                     std::string unk_token = "[UNK]", std::string prefix = "##",
                     size_t max_input_chars_per_word = 100);

  std::string family() const override { return "wordpiece"; }
  size_t vocab_size() const override { return vocab_.size(); }
  std::string id_to_token(int32_t id) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  const BertNormalizerOptions& normalizer() const { return norm_; }

 protected:
  void encode_segment(std::string_view segment, bool at_start,
                      std::vector<int32_t>& out) const override;

 private:
  void encode_word(const std::u32string& word, std::vector<int32_t>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  BertNormalizerOptions norm_;
  int32_t unk_id_;
  std::string prefix_;
  size_t max_chars_;
};

// Reads vocab.txt (one token per line, id = line number); throws naming file and line.
std::vector<std::string> read_wordpiece_vocab(const std::filesystem::path& file);

}  // namespace spt::tokenize
