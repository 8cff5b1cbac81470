// Added-token splitting (HF AddedVocabulary: leftmost-longest match, lstrip / rstrip /
// single_word) and template sizes.
#include "spt/tokenize/special_tokens.h"

#include <unicode/uchar.h>

#include "spt/tokenize/utf8.h"
#include "src/tokenize/unicode.h"

namespace spt::tokenize {

namespace {

// Code point starting at byte i of `s` (valid UTF-8); its length in bytes goes to *len.
char32_t code_point_at(std::string_view s, size_t i, size_t* len) {
  size_t n = 1;
  const auto c0 = static_cast<unsigned char>(s[i]);
  if (c0 >= 0xF0) n = 4;
  else if (c0 >= 0xE0) n = 3;
  else if (c0 >= 0xC0) n = 2;
  if (len) *len = n;
  const std::u32string cp = utf8_decode(s.substr(i, n));
  return cp.empty() ? 0 : cp[0];
}

size_t prev_start(std::string_view s, size_t i) {
  do {
    --i;
  } while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
  return i;
}

bool is_word_char(char32_t c) { return u_isalnum(static_cast<UChar32>(c)) || c == '_'; }

}  // namespace

size_t SpecialTokens::added_count(bool is_pair) const {
  const auto& t = is_pair ? pair : single;
  size_t n = 0;
  for (const auto& p : t) n += p.sequence < 0 ? 1 : 0;
  return n;
}

bool SpecialTokens::is_special(int32_t id) const {
  for (const auto& a : added)
    if (a.id == id && a.special) return true;
  return false;
}

std::vector<SpecialTokens::Piece> SpecialTokens::split(std::string_view text) const {
  std::vector<Piece> out;
  size_t plain_start = 0;  // start of the pending plain-text piece
  size_t i = 0;
  while (i < text.size()) {
    const AddedToken* best = nullptr;
    for (const auto& a : added) {
      if (a.content.empty() || a.content.size() <= (best ? best->content.size() : 0)) continue;
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      if (a.single_word) {
        const size_t end = i + a.content.size();
        if (i > 0 && is_word_char(code_point_at(text, prev_start(text, i), nullptr))) continue;
        if (end < text.size() && is_word_char(code_point_at(text, end, nullptr))) continue;
      }
      best = &a;
    }
    if (!best) {
      size_t n = 1;
      code_point_at(text, i, &n);
      i += n;
      continue;
    }
    size_t start = i, end = i + best->content.size();
    if (best->lstrip) {
      while (start > plain_start) {
        const size_t p = prev_start(text, start);
        if (!unicode::is_white_space(code_point_at(text, p, nullptr))) break;
        start = p;
      }
    }
    if (best->rstrip) {
      while (end < text.size()) {
        size_t n = 1;
        if (!unicode::is_white_space(code_point_at(text, end, &n))) break;
        end += n;
      }
    }
    if (start > plain_start) out.push_back({text.substr(plain_start, start - plain_start), nullptr});
    out.push_back({text.substr(start, end - start), best});
    plain_start = i = end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), nullptr});
  return out;
}

}  // namespace spt::tokenize
