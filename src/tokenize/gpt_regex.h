// The GPT-2 pre-tokenisation pattern compiled with PCRE2 (UTF + UCP, JIT when
// available). Oniguruma's \s, which HF tokenizers uses, is the White_Space property
// (it includes U+0085), so the pattern spells \s as \p{White_Space}.
#pragma once

#include <string_view>
#include <vector>

namespace spt::tokenize {

class GptRegex {
 public:
  GptRegex();
  ~GptRegex();
  GptRegex(const GptRegex&) = delete;
  GptRegex& operator=(const GptRegex&) = delete;

  // Consecutive pieces of `text` (valid UTF-8): the matches, and any unmatched gap.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8
};

}  // namespace spt::tokenize
