// Tokenizer: added-token splitting, template (special tokens), truncation and padding
// with the semantics of HF tokenizers 0.23 (utils/truncation.rs, utils/padding.rs).
#include "spt/tokenize/tokenizer.h"

#include <algorithm>

#include "spt/core/error.h"
#include "spt/tokenize/utf8.h"

namespace spt::tokenize {

namespace {

using Ids = std::vector<int32_t>;

// HF truncate_encodings on the sequences without their special tokens.
void truncate(Ids& a, Ids* b, Truncation strategy, size_t max_length) {
  if (max_length == 0) {
    a.clear();
    if (b) b->clear();
    return;
  }
  const size_t total = a.size() + (b ? b->size() : 0);
  if (total <= max_length) return;
  const size_t to_remove = total - max_length;
  switch (strategy) {
    case Truncation::none:
      return;
    case Truncation::longest_first: {
      if (!b) {
        a.resize(max_length);
        return;
      }
      // n1 = shorter; keep it whole when it fits in half, else split the budget
      // (the longer one, or on a tie the second, gets the odd token).
      size_t n1 = a.size(), n2 = b->size();
      const bool swap = n1 > n2;
      if (swap) std::swap(n1, n2);
      n2 = n1 > max_length ? n1 : std::max(n1, max_length - n1);
      if (n1 + n2 > max_length) {
        n1 = max_length / 2;
        n2 = n1 + max_length % 2;
      }
      if (swap) std::swap(n1, n2);
      a.resize(std::min(a.size(), n1));
      b->resize(std::min(b->size(), n2));
      return;
    }
    case Truncation::only_first:
    case Truncation::only_second: {
      const bool first = strategy == Truncation::only_first;
      SPT_CHECK(first || b, "[tokenize] truncation only_second needs a pair of sequences; "
                            "hint: use longest_first or only_first for single sentences");
      Ids& target = first ? a : *b;
      SPT_CHECK(target.size() > to_remove, "[tokenize] truncation ", to_string(strategy),
                ": the ", first ? "first" : "second", " sequence has ", target.size(),
                " tokens, too few to remove the ", to_remove, " needed for max_length ",
                max_length, " (without special tokens); hint: use longest_first or a larger "
                "max_length");
      target.resize(target.size() - to_remove);
      return;
    }
  }
}

}  // namespace

const char* to_string(Truncation t) {
  switch (t) {
    case Truncation::none: return "none";
    case Truncation::longest_first: return "longest_first";
    case Truncation::only_first: return "only_first";
    case Truncation::only_second: return "only_second";
  }
  return "?";
}

Truncation parse_truncation(std::string_view s) {
  for (Truncation t : {Truncation::none, Truncation::longest_first, Truncation::only_first,
                       Truncation::only_second})
    if (s == to_string(t)) return t;
  fail("[tokenize] unknown truncation strategy '", s,
       "'; hint: use longest_first, only_first, only_second or none");
}

std::string Tokenizer::token_text(int32_t id) const {
  for (const auto& a : special_.added)
    if (a.id == id) return a.content;
  return id_to_token(id);
}

std::vector<int32_t> Tokenizer::tokenize(std::string_view text) const {
  if (const size_t bad = utf8_invalid_at(text); bad != kUtf8Valid)
    fail("[tokenize] invalid UTF-8 at byte ", bad, " of the input text; hint: the input must "
         "be UTF-8 encoded");
  std::vector<int32_t> out;
  size_t offset = 0;
  for (const auto& piece : special_.split(text)) {
    if (piece.token) out.push_back(piece.token->id);
    else if (!piece.text.empty()) encode_segment(piece.text, offset == 0, out);
    offset += piece.text.size();
  }
  return out;
}

Encoding Tokenizer::finish(Ids a, std::optional<Ids> b, const EncodeOptions& opt) const {
  const bool is_pair = b.has_value();
  if (opt.truncation != Truncation::none) {
    SPT_CHECK(opt.max_length, "[tokenize] truncation ", to_string(opt.truncation),
              " needs max_length; hint: set max_length");
    const size_t n_added = opt.add_special_tokens ? special_.added_count(is_pair) : 0;
    // HF subtracts the special tokens without a check: a budget smaller than them wraps
    // around and truncates nothing; we mirror that.
    if (*opt.max_length >= n_added)
      truncate(a, is_pair ? &*b : nullptr, opt.truncation, *opt.max_length - n_added);
  }
  Encoding e;
  auto append = [&](const Ids& ids, int32_t type_id) {
    e.ids.insert(e.ids.end(), ids.begin(), ids.end());
    e.type_ids.insert(e.type_ids.end(), ids.size(), type_id);
  };
  const auto& tmpl = is_pair ? special_.pair : special_.single;
  if (!opt.add_special_tokens || tmpl.empty()) {
    append(a, 0);
    if (is_pair) append(*b, 1);
  } else {
    for (const auto& p : tmpl) {
      if (p.sequence < 0) append({p.id}, p.type_id);
      else if (p.sequence == 0) append(a, p.type_id);
      else if (is_pair) append(*b, p.type_id);
    }
  }
  e.tokens.reserve(e.ids.size());
  for (int32_t id : e.ids) e.tokens.push_back(token_text(id));
  e.attention_mask.assign(e.ids.size(), 1);
  return e;
}

void Tokenizer::pad(std::vector<Encoding>& batch, const EncodeOptions& opt) const {
  if (opt.padding == Padding::none || batch.empty()) return;
  size_t target = 0;
  if (opt.padding == Padding::max_length) {
    SPT_CHECK(opt.max_length, "[tokenize] padding to max_length needs max_length; "
                              "hint: set max_length or pad to the longest");
    target = *opt.max_length;
  } else {
    for (const auto& e : batch) target = std::max(target, e.size());
  }
  SPT_CHECK(special_.pad_id, "[tokenize] this ", family(), " tokenizer has no pad token; "
            "hint: set one (for GPT-2 and LLaMA spt uses the eos token when the model has one)");
  const bool left = opt.padding_side ? *opt.padding_side == Side::left
                                     : special_.default_padding_left;
  for (auto& e : batch) {
    if (e.size() >= target) continue;
    const size_t n = target - e.size();
    const auto at = [&](auto& v) { return left ? v.begin() : v.end(); };
    e.ids.insert(at(e.ids), n, *special_.pad_id);
    e.tokens.insert(at(e.tokens), n, special_.pad_token);
    e.type_ids.insert(at(e.type_ids), n, 0);
    e.attention_mask.insert(at(e.attention_mask), n, 0);
  }
}

Encoding Tokenizer::encode(std::string_view text, const EncodeOptions& opt) const {
  std::vector<Encoding> one;
  one.push_back(finish(tokenize(text), std::nullopt, opt));
  pad(one, opt);
  return std::move(one[0]);
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b,
                                const EncodeOptions& opt) const {
  std::vector<Encoding> one;
  one.push_back(finish(tokenize(a), tokenize(b), opt));
  pad(one, opt);
  return std::move(one[0]);
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                              const EncodeOptions& opt) const {
  std::vector<Encoding> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(finish(tokenize(t), std::nullopt, opt));
  pad(out, opt);
  return out;
}

std::vector<Encoding> Tokenizer::encode_batch(
    const std::vector<std::pair<std::string, std::string>>& pairs, const EncodeOptions& opt) const {
  std::vector<Encoding> out;
  out.reserve(pairs.size());
  for (const auto& [a, b] : pairs) out.push_back(finish(tokenize(a), tokenize(b), opt));
  pad(out, opt);
  return out;
}

}  // namespace spt::tokenize
