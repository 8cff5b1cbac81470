// HF BertNormalizer and BertPreTokenizer (tokenizers/src/normalizers/bert.rs,
// pre_tokenizers/bert.rs): clean text, pad CJK ideographs with spaces, NFD + drop Mn
// when stripping accents, lower-case per code point; then split at white space and
// isolate punctuation (ASCII punctuation or Unicode P*).
#include "spt/tokenize/wordpiece.h"
#include "src/tokenize/unicode.h"

namespace spt::tokenize {

namespace {

// The CJK Unified Ideographs blocks BERT splits, as tokenizers lists them.
bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_bert_whitespace(char32_t c) {
  return c == '\t' || c == '\n' || c == '\r' || unicode::is_white_space(c);
}

bool is_bert_control(char32_t c) {
  return c != '\t' && c != '\n' && c != '\r' && unicode::is_other(c);
}

bool is_ascii_punctuation(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

}  // namespace

std::u32string bert_normalize(std::u32string_view text, const BertNormalizerOptions& opt) {
  std::u32string s;
  s.reserve(text.size() + 8);
  for (char32_t c : text) {
    if (opt.clean_text) {
      if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
      if (is_bert_whitespace(c)) c = ' ';
    }
    if (opt.handle_chinese_chars && is_chinese_char(c)) {
      s.push_back(' ');
      s.push_back(c);
      s.push_back(' ');
    } else {
      s.push_back(c);
    }
  }
  if (opt.strip_accents.value_or(opt.lowercase)) {
    std::u32string d = unicode::nfd(s);
    s.clear();
    for (char32_t c : d)
      if (!unicode::is_mark_nonspacing(c)) s.push_back(c);
  }
  if (opt.lowercase) {
    std::u32string l;
    l.reserve(s.size());
    for (char32_t c : s) unicode::append_lower(l, c);
    s = std::move(l);
  }
  return s;
}

std::vector<std::u32string> bert_pre_tokenize(std::u32string_view text) {
  std::vector<std::u32string> words;
  std::u32string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(std::move(cur));
    cur.clear();
  };
  for (char32_t c : text) {
    if (unicode::is_white_space(c)) {
      flush();
    } else if (is_ascii_punctuation(c) || unicode::is_punctuation(c)) {
      flush();
      words.emplace_back(1, c);
    } else {
      cur.push_back(c);
    }
  }
  flush();
  return words;
}

}  // namespace spt::tokenize
