// GPT-2 byte-level BPE: the GPT-2 pre-tokenisation regex (PCRE2, UTF + UCP), bytes
// mapped to printable code points (bytes_to_unicode), merges applied by rank, and a
// per-word cache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "spt/tokenize/tokenizer.h"

namespace spt::tokenize {

class GptRegex;  // compiled pre-tokenisation pattern (src/tokenize/gpt_regex.h)

class ByteLevelBpeTokenizer : public Tokenizer {
 public:
  // `vocab`: token -> id; `merges`: pairs in rank order (as merges.txt lists them).
  ByteLevelBpeTokenizer(std::unordered_map<std::string, int32_t> vocab,
                        std::vector<std::pair<std::string, std::string>> merges,
                        bool add_prefix_space = false);
  ~ByteLevelBpeTokenizer() override;

  std::string family() const override { return "bpe"; }
  size_t vocab_size() const override { return tokens_.size(); }
  std::string id_to_token(int32_t id) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;

 protected:
  void encode_segment(std::string_view segment, bool at_start,
                      std::vector<int32_t>& out) const override;

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // id -> token
  // (left id, right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  std::vector<int32_t> byte_ids_;  // id of the single-symbol token of each byte, -1 if absent
  bool add_prefix_space_;
  std::unique_ptr<GptRegex> regex_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

// Reads vocab.json (token -> id) and merges.txt ("a b" per line, optional "#version"
// header); errors name the file and line.
std::unordered_map<std::string, int32_t> read_bpe_vocab(const std::filesystem::path& file);
std::vector<std::pair<std::string, std::string>> read_bpe_merges(const std::filesystem::path& file);

// GPT-2's byte -> code point table (printable bytes map to themselves).
const std::vector<char32_t>& byte_to_unicode();

}  // namespace spt::tokenize
