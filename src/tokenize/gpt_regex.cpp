// GPT-2 pre-tokenisation with PCRE2 (see gpt_regex.h).
#include "src/tokenize/gpt_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "spt/core/error.h"

namespace spt::tokenize {

namespace {

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
constexpr const char* kPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+)"
    R"(|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+)";

pcre2_code* code(void* p) { return static_cast<pcre2_code*>(p); }

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* c) : md(pcre2_match_data_create_from_pattern(c, nullptr)) {
    SPT_CHECK(md, "[bpe] out of memory creating PCRE2 match data");
  }
  ~MatchData() { pcre2_match_data_free(md); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

}  // namespace

GptRegex::GptRegex() {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!c) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("[bpe] cannot compile the GPT-2 pattern at offset ", off, ": ",
         reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
  code_ = c;
}

GptRegex::~GptRegex() { pcre2_code_free(code(code_)); }

std::vector<std::string_view> GptRegex::split(std::string_view text) const {
  std::vector<std::string_view> out;
  MatchData m(code(code_));
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(code(code_), subject, text.size(), pos, PCRE2_NO_UTF_CHECK, m.md,
                               nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    SPT_CHECK(rc >= 0, "[bpe] PCRE2 match failed with code ", rc);
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
    if (ov[0] > pos) out.push_back(text.substr(pos, ov[0] - pos));
    SPT_CHECK(ov[1] > ov[0], "[bpe] the GPT-2 pattern matched an empty string");
    out.push_back(text.substr(ov[0], ov[1] - ov[0]));
    pos = ov[1];
  }
  if (pos < text.size()) out.push_back(text.substr(pos));
  return out;
}

}  // namespace spt::tokenize
