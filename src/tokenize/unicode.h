// Unicode properties the BERT normaliser needs, from ICU, matched to what Hugging
// Face tokenizers 0.23 uses: its `unicode_categories` crate (0.1.1) holds Unicode 8.0
// tables, so a code point assigned after Unicode 8.0 has no category there (it is
// neither "other", nor a nonspacing mark, nor punctuation). White space and lower
// case come from Rust's std (current Unicode), here from ICU directly.
#pragma once

#include <string>
#include <string_view>

namespace spt::tokenize::unicode {

bool is_white_space(char32_t c);         // Unicode White_Space property
bool is_other(char32_t c);               // Cc, Cf or Co (Unicode 8.0 assignment)
bool is_mark_nonspacing(char32_t c);     // Mn (Unicode 8.0 assignment)
bool is_punctuation(char32_t c);         // P* (Unicode 8.0 assignment)
std::u32string nfd(std::u32string_view s);
// Full lower-case mapping of each code point on its own (no context: Σ -> σ).
void append_lower(std::u32string& out, char32_t c);

}  // namespace spt::tokenize::unicode
