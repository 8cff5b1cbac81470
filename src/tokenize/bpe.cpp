// Byte-level BPE (HF tokenizers models/bpe + pre_tokenizers/byte_level): each regex
// piece is turned into bytes, each byte into its printable code point, then the
// adjacent pair of lowest merge rank (leftmost on ties) is merged until none is left.
#include "spt/tokenize/bpe.h"

#include <limits>

#include "spt/core/error.h"
#include "spt/tokenize/utf8.h"
#include "src/tokenize/gpt_regex.h"

namespace spt::tokenize {

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

constexpr size_t kCacheCapacity = 100000;

}  // namespace

const std::vector<char32_t>& byte_to_unicode() {
  static const std::vector<char32_t> table = [] {
    std::vector<char32_t> t(256);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(
    std::unordered_map<std::string, int32_t> vocab,
    std::vector<std::pair<std::string, std::string>> merges, bool add_prefix_space)
    : vocab_(std::move(vocab)), add_prefix_space_(add_prefix_space),
      regex_(std::make_unique<GptRegex>()) {
  int32_t max_id = -1;
  for (const auto& [tok, id] : vocab_) {
    SPT_CHECK(id >= 0, "[bpe] token '", tok, "' has negative id ", id);
    SPT_CHECK(id < kMaxVocabSize, "[bpe] token '", tok, "' has id ", id, ", past the largest vocabulary spt accepts (",
              kMaxVocabSize, " tokens); hint: the vocabulary file is damaged");
    max_id = std::max(max_id, id);
  }
  tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  for (const auto& [tok, id] : vocab_) tokens_[static_cast<size_t>(id)] = tok;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    const auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(a + b);
    SPT_CHECK(ia != vocab_.end() && ib != vocab_.end() && im != vocab_.end(), "[bpe] merge ",
              r + 1, " '", a, " ", b, "' uses a token missing from the vocabulary; hint: "
              "vocab.json and merges.txt must come from the same tokenizer");
    merges_.emplace(pair_key(ia->second, ib->second),
                    std::make_pair(static_cast<int32_t>(r), im->second));
  }
  byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    std::string s;
    utf8_append(s, byte_to_unicode()[static_cast<size_t>(b)]);
    if (const auto it = vocab_.find(s); it != vocab_.end()) byte_ids_[static_cast<size_t>(b)] = it->second;
  }
}

ByteLevelBpeTokenizer::~ByteLevelBpeTokenizer() = default;

std::string ByteLevelBpeTokenizer::id_to_token(int32_t id) const {
  SPT_CHECK(id >= 0 && static_cast<size_t>(id) < tokens_.size(), "[bpe] id ", id,
            " out of range (vocabulary of ", tokens_.size(), ")");
  return tokens_[static_cast<size_t>(id)];
}

std::optional<int32_t> ByteLevelBpeTokenizer::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void ByteLevelBpeTokenizer::encode_segment(std::string_view segment, bool /*at_start*/,
                                           std::vector<int32_t>& out) const {
  if (add_prefix_space_ && segment.front() != ' ') {
    std::string prefixed(1, ' ');
    prefixed.append(segment);
    for (std::string_view w : regex_->split(prefixed)) encode_word(w, out);
    return;
  }
  for (std::string_view w : regex_->split(segment)) encode_word(w, out);
}

void ByteLevelBpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  const std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (const auto it = cache_.find(key); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // A byte whose symbol is missing from the vocabulary is dropped (HF, no unk token).
  std::vector<int32_t> sym;
  sym.reserve(word.size());
  for (unsigned char b : word)
    if (byte_ids_[b] >= 0) sym.push_back(byte_ids_[b]);
  while (sym.size() > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max(), best_id = -1;
    size_t best_pos = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      const auto it = merges_.find(pair_key(sym[i], sym[i + 1]));
      if (it != merges_.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best_id = it->second.second;
        best_pos = i;
      }
    }
    if (best_id < 0) break;
    sym[best_pos] = best_id;
    sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  out.insert(out.end(), sym.begin(), sym.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheCapacity) cache_.clear();
  cache_.emplace(key, std::move(sym));
}

std::string ByteLevelBpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::vector<int> unicode_to_byte(324, -1);
  for (int b = 0; b < 256; ++b) unicode_to_byte[byte_to_unicode()[static_cast<size_t>(b)]] = b;
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special && special_.is_special(id)) continue;
    for (char32_t c : utf8_decode(id_to_token(id), "bpe")) {
      if (c < unicode_to_byte.size() && unicode_to_byte[c] >= 0)
        bytes.push_back(static_cast<char>(unicode_to_byte[c]));
      else
        utf8_append(bytes, c);  // an added token's own text
    }
  }
  // Invalid sequences (a character split across tokens) become U+FFFD, like errors="replace".
  std::string text;
  for (size_t i = 0; i < bytes.size();) {
    const size_t bad = utf8_invalid_at(std::string_view(bytes).substr(i));
    if (bad == kUtf8Valid) {
      text.append(bytes, i, std::string::npos);
      break;
    }
    text.append(bytes, i, bad);
    text += "\xEF\xBF\xBD";
    i += bad + 1;
  }
  return text;
}

}  // namespace spt::tokenize
