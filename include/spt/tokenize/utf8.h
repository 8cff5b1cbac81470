// Strict UTF-8 decoding and encoding for the tokenizers.
// Rejects overlong forms, surrogates (U+D800..U+DFFF), code points past U+10FFFF and
// truncated sequences, as Python's and Rust's decoders do.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spt::tokenize {

inline constexpr size_t kUtf8Valid = static_cast<size_t>(-1);

// Byte offset of the first malformed sequence in `s`, or kUtf8Valid.
size_t utf8_invalid_at(std::string_view s);

// Decodes `s`; throws spt::Error "[<what>] invalid UTF-8 at byte N" on malformed input.
std::u32string utf8_decode(std::string_view s, std::string_view what = "tokenizer");

void utf8_append(std::string& out, char32_t c);
std::string utf8_encode(std::u32string_view s);

}  // namespace spt::tokenize
