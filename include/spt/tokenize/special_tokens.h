// Special tokens: the added tokens recognised inside input text (HF's AddedVocabulary)
// and the template that wraps encoded sequences (HF's TemplateProcessing), e.g.
//   BERT  single [CLS]:0 $A:0 [SEP]:0        pair  ... $B:1 [SEP]:1
//   GPT-2 single $A:0                        pair  $A:0 $B:1
//   LLaMA single <s>:0 $A:0                  pair  <s>:0 $A:0 <s>:1 $B:1
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spt::tokenize {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = true;
  bool lstrip = false;  // also swallow whitespace on the left / right
  bool rstrip = false;
  bool single_word = false;  // only match as a whole word
};

struct TemplatePiece {
  int sequence = -1;  // 0 = A, 1 = B, -1 = the special token `id`
  int32_t id = 0;
  int32_t type_id = 0;
};

struct SpecialTokens {
  std::vector<AddedToken> added;     // matched in text, longest first at each position
  std::vector<TemplatePiece> single;  // empty = just $A:0
  std::vector<TemplatePiece> pair;    // empty = $A:0 $B:1
  std::optional<int32_t> pad_id;      // none: padding is an error
  std::string pad_token;
  std::optional<int32_t> bos_id, eos_id, unk_id;
  bool default_padding_left = false;

  // Number of template tokens added around one sequence or a pair.
  size_t added_count(bool is_pair) const;
  bool is_special(int32_t id) const;

  // Splits `text` at added tokens: returns alternating pieces, each either plain text
  // (token = nullptr) or one added token.
  struct Piece {
    std::string_view text;
    const AddedToken* token = nullptr;
  };
  std::vector<Piece> split(std::string_view text) const;
};

}  // namespace spt::tokenize
