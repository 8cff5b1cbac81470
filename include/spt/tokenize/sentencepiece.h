// SentencePiece models (.model) through libsentencepiece, wrapped the way transformers'
// LlamaTokenizer (legacy=False) uses them: special tokens in the text are split out
// first, and only a segment at the very start of a sequence that does not already
// begin with a space gets the dummy "▁" prefix (Metaspace prepend_scheme "first").
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "spt/tokenize/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace spt::tokenize {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads `model_file`; BOS/EOS follow add_bos / add_eos (LLaMA: true / false).
  SentencePieceTokenizer(const std::filesystem::path& model_file, bool add_bos, bool add_eos);
  ~SentencePieceTokenizer() override;

  std::string family() const override { return "sentencepiece"; }
  size_t vocab_size() const override;
  std::string id_to_token(int32_t id) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;

  // Plain libsentencepiece encoding of `text` (dummy prefix as the model says).
  std::vector<int32_t> encode_plain(std::string_view text) const;

 protected:
  void encode_segment(std::string_view segment, bool at_start,
                      std::vector<int32_t>& out) const override;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;            // as trained
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_no_prefix_;  // add_dummy_prefix off
  bool adds_dummy_prefix_ = true;
};

}  // namespace spt::tokenize
