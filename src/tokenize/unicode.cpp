// ICU-backed Unicode properties for the BERT normaliser (see unicode.h for why the
// categories are limited to code points assigned by Unicode 8.0).
#include "src/tokenize/unicode.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "spt/core/error.h"

namespace spt::tokenize::unicode {

namespace {

// True when `c` was assigned by Unicode 8.0 or earlier (the tables HF tokenizers uses).
bool in_unicode_8(char32_t c) {
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(c), age);
  return age[0] < 8 || (age[0] == 8 && age[1] == 0);
}

int8_t category(char32_t c) {
  return in_unicode_8(c) ? u_charType(static_cast<UChar32>(c)) : static_cast<int8_t>(U_UNASSIGNED);
}

std::u16string to_utf16(std::u32string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c >= 0x10000) {
      out.push_back(static_cast<char16_t>(0xD800 + ((c - 0x10000) >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + ((c - 0x10000) & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(c));
    }
  }
  return out;
}

void append_utf32(std::u32string& out, const char16_t* s, int32_t n) {
  for (int32_t i = 0; i < n; ++i) {
    char32_t c = s[i];
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < n) {
      c = 0x10000 + ((c - 0xD800) << 10) + (static_cast<char32_t>(s[++i]) - 0xDC00);
    }
    out.push_back(c);
  }
}

}  // namespace

bool is_white_space(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

bool is_other(char32_t c) {
  const int8_t t = category(c);
  return t == U_CONTROL_CHAR || t == U_FORMAT_CHAR || t == U_PRIVATE_USE_CHAR;
}

bool is_mark_nonspacing(char32_t c) { return category(c) == U_NON_SPACING_MARK; }

bool is_punctuation(char32_t c) {
  switch (category(c)) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

std::u32string nfd(std::u32string_view s) {
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* n = unorm2_getNFDInstance(&err);
  SPT_CHECK(U_SUCCESS(err), "[tokenize] ICU NFD normaliser unavailable: ", u_errorName(err));
  const std::u16string in = to_utf16(s);
  std::u16string out(in.size() * 3 + 8, u'\0');
  int32_t n_out = unorm2_normalize(n, reinterpret_cast<const UChar*>(in.data()),
                                   static_cast<int32_t>(in.size()),
                                   reinterpret_cast<UChar*>(out.data()),
                                   static_cast<int32_t>(out.size()), &err);
  if (err == U_BUFFER_OVERFLOW_ERROR) {
    err = U_ZERO_ERROR;
    out.assign(static_cast<size_t>(n_out), u'\0');
    n_out = unorm2_normalize(n, reinterpret_cast<const UChar*>(in.data()),
                             static_cast<int32_t>(in.size()), reinterpret_cast<UChar*>(out.data()),
                             static_cast<int32_t>(out.size()), &err);
  }
  SPT_CHECK(U_SUCCESS(err), "[tokenize] ICU NFD failed: ", u_errorName(err));
  std::u32string res;
  res.reserve(static_cast<size_t>(n_out));
  append_utf32(res, out.data(), n_out);
  return res;
}

void append_lower(std::u32string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  const std::u16string in = to_utf16(std::u32string_view(&c, 1));
  char16_t buf[16];
  UErrorCode err = U_ZERO_ERROR;
  const int32_t n = u_strToLower(reinterpret_cast<UChar*>(buf), 16,
                                 reinterpret_cast<const UChar*>(in.data()),
                                 static_cast<int32_t>(in.size()), "", &err);
  SPT_CHECK(U_SUCCESS(err), "[tokenize] ICU lower-casing failed: ", u_errorName(err));
  append_utf32(out, buf, n);
}

}  // namespace spt::tokenize::unicode
