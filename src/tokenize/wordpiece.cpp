// WordPiece model (HF tokenizers models/wordpiece): greedy longest-match-first
// sub-words, "##" on every piece but the first, [UNK] for a word with an unmatched
// piece or longer than max_input_chars_per_word code points.
#include "spt/tokenize/wordpiece.h"

#include <fstream>

#include "spt/core/error.h"
#include "spt/tokenize/utf8.h"

namespace spt::tokenize {

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, BertNormalizerOptions norm,
                                       std::string unk_token, std::string prefix,
                                       size_t max_input_chars_per_word)
    : vocab_(std::move(vocab)),
      norm_(norm),
      unk_id_(-1),
      prefix_(std::move(prefix)),
      max_chars_(max_input_chars_per_word) {
  ids_.reserve(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) ids_[vocab_[i]] = static_cast<int32_t>(i);
  const auto unk = ids_.find(unk_token);
  SPT_CHECK(unk != ids_.end(), "[wordpiece] the unknown token '", unk_token,
            "' is not in the vocabulary; hint: check vocab.txt / tokenizer.json");
  unk_id_ = unk->second;
}

std::string WordPieceTokenizer::id_to_token(int32_t id) const {
  SPT_CHECK(id >= 0 && static_cast<size_t>(id) < vocab_.size(), "[wordpiece] id ", id,
            " out of range (vocabulary of ", vocab_.size(), ")");
  return vocab_[static_cast<size_t>(id)];
}

std::optional<int32_t> WordPieceTokenizer::token_to_id(std::string_view token) const {
  const auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void WordPieceTokenizer::encode_segment(std::string_view segment, bool /*at_start*/,
                                        std::vector<int32_t>& out) const {
  const std::u32string norm = bert_normalize(utf8_decode(segment), norm_);
  for (const auto& word : bert_pre_tokenize(norm)) encode_word(word, out);
}

void WordPieceTokenizer::encode_word(const std::u32string& word, std::vector<int32_t>& out) const {
  if (word.size() > max_chars_) {
    out.push_back(unk_id_);
    return;
  }
  const size_t first = out.size();
  std::string piece;
  for (size_t start = 0; start < word.size();) {
    int32_t found = -1;
    size_t end = word.size();
    for (; end > start; --end) {
      piece = start > 0 ? prefix_ : std::string();
      piece += utf8_encode(word.substr(start, end - start));
      if (const auto it = ids_.find(piece); it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string text;
  for (int32_t id : ids) {
    if (skip_special && special_.is_special(id)) continue;
    const std::string tok = id_to_token(id);
    if (tok.rfind(prefix_, 0) == 0) {
      text += tok.substr(prefix_.size());
    } else {
      if (!text.empty()) text += ' ';
      text += tok;
    }
  }
  return text;
}

std::vector<std::string> read_wordpiece_vocab(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  SPT_CHECK(in, "[wordpiece] cannot open ", file.string(), "; hint: check the path");
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (const size_t bad = utf8_invalid_at(line); bad != kUtf8Valid)
      fail("[wordpiece] ", file.string(), " line ", vocab.size() + 1, ": invalid UTF-8 at byte ",
           bad, "; hint: vocab.txt must be UTF-8, one token per line");
    vocab.push_back(line);
  }
  SPT_CHECK(!vocab.empty(), "[wordpiece] ", file.string(),
            " is empty; hint: vocab.txt lists one token per line");
  return vocab;
}

}  // namespace spt::tokenize
