// A dataset tokenized once: per example the token ids and token type ids (flat
// storage with offsets; no padding yet) and its label. Built from read examples
// through Tokenizer::encode / encode_pair (special tokens, truncation to max_length),
// or from packed causal-LM blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "spt/data/dataset.h"
#include "spt/data/lm_text.h"
#include "spt/tokenize/tokenizer.h"

namespace spt::data {

struct TokenizeOptions {
  tokenize::Truncation truncation = tokenize::Truncation::longest_first;
  size_t max_length = 128;  // special tokens included
  bool add_special_tokens = true;
  // Rows the tokenizer rejects (e.g. only_first with a first text too short to cut)
  // are counted and skipped instead of throwing.
  bool skip_bad_rows = false;
};

class TokenizedDataset {
 public:
  TokenizedDataset() = default;

  static TokenizedDataset from_examples(const TextDataset& data, const tokenize::Tokenizer& tok,
                                        const TokenizeOptions& opt);
  // Each block is one example; labels are its ids (LabelKind::causal_lm).
  static TokenizedDataset from_blocks(const LmBlocks& blocks);

  size_t size() const { return offsets_.size() - 1; }
  size_t length(size_t i) const { return offsets_[i + 1] - offsets_[i]; }
  size_t max_length() const { return max_length_; }  // longest example
  std::span<const int32_t> ids(size_t i) const;
  std::span<const int32_t> type_ids(size_t i) const;
  int32_t label(size_t i) const { return labels_[i]; }      // classification
  float target(size_t i) const { return targets_[i]; }      // regression
  size_t source_line(size_t i) const { return lines_[i]; }  // 0 for LM blocks

  LabelKind label_kind() const { return kind_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::string& source() const { return source_; }
  const BadRows& bad_rows() const { return bad_rows_; }

 private:
  void push(std::span<const int32_t> ids, std::span<const int32_t> type_ids);

  std::vector<int32_t> ids_, type_ids_;
  std::vector<size_t> offsets_ = {0};
  std::vector<int32_t> labels_;
  std::vector<float> targets_;
  std::vector<size_t> lines_;
  size_t max_length_ = 0;
  LabelKind kind_ = LabelKind::none;
  std::vector<std::string> label_names_;
  std::string source_;
  BadRows bad_rows_;
};

}  // namespace spt::data
