// Tokenizing a dataset once (see spt/data/tokenized.h).
#include "spt/data/tokenized.h"

#include <algorithm>

#include "spt/core/error.h"

namespace spt::data {

namespace {

// only_first / only_second fail when the sequence they may cut is too short; that
// is a property of the row, so it is checked here (with the tokenizer's rule: the
// budget is max_length minus the special tokens; a budget <= 0 never fails) and
// handed to the RowPolicy rather than thrown from inside the tokenizer.
bool truncation_fits(size_t a, size_t b, size_t added, const TokenizeOptions& opt) {
  using tokenize::Truncation;
  if (opt.truncation != Truncation::only_first && opt.truncation != Truncation::only_second)
    return true;
  if (opt.max_length <= added) return true;
  const size_t budget = opt.max_length - added;
  if (a + b <= budget) return true;
  return (opt.truncation == Truncation::only_first ? a : b) > a + b - budget;
}

}  // namespace

const char* to_string(LabelKind k) {
  switch (k) {
    case LabelKind::none: return "none";
    case LabelKind::classification: return "classification";
    case LabelKind::regression: return "regression";
    case LabelKind::causal_lm: return "causal_lm";
  }
  return "?";
}

void TokenizedDataset::push(std::span<const int32_t> ids, std::span<const int32_t> type_ids) {
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  type_ids_.insert(type_ids_.end(), type_ids.begin(), type_ids.end());
  offsets_.push_back(ids_.size());
  max_length_ = std::max(max_length_, ids.size());
}

TokenizedDataset TokenizedDataset::from_examples(const TextDataset& data,
                                                 const tokenize::Tokenizer& tok,
                                                 const TokenizeOptions& opt) {
  SPT_CHECK(opt.truncation == tokenize::Truncation::none || opt.max_length >= 1,
            "[data] truncation needs max_length >= 1; hint: set tokenizer.max_length");
  SPT_CHECK(data.is_pair || opt.truncation != tokenize::Truncation::only_second,
            "[data] truncation only_second needs sentence pairs; hint: use longest_first or "
            "only_first for single texts");
  TokenizedDataset out;
  out.kind_ = data.label_kind;
  out.label_names_ = data.label_names;
  out.source_ = data.source;
  out.bad_rows_ = data.bad_rows;
  const RowPolicy policy(opt.skip_bad_rows, out.bad_rows_);
  tokenize::EncodeOptions enc;
  enc.add_special_tokens = opt.add_special_tokens;
  enc.truncation = opt.truncation;
  if (opt.truncation != tokenize::Truncation::none) enc.max_length = opt.max_length;
  const size_t added = opt.add_special_tokens ? tok.special().added_count(data.is_pair) : 0;
  for (const Example& ex : data.examples) {
    if (opt.truncation == tokenize::Truncation::only_first ||
        opt.truncation == tokenize::Truncation::only_second) {
      const size_t a = tok.tokenize(ex.text).size();
      const size_t b = data.is_pair ? tok.tokenize(ex.text_pair).size() : 0;
      if (!truncation_fits(a, b, added, opt)) {
        policy.bad_row(data.source, ex.line,
                       str_cat("cannot truncate with ", tokenize::to_string(opt.truncation),
                               " to max_length ", opt.max_length, ": the texts have ", a,
                               " and ", b, " tokens (+", added, " special)"),
                       "use tokenizer.truncation = longest_first, raise tokenizer.max_length, "
                       "or set data.skip_bad_rows = true");
        continue;
      }
    }
    const tokenize::Encoding e =
        data.is_pair ? tok.encode_pair(ex.text, ex.text_pair, enc) : tok.encode(ex.text, enc);
    out.push(e.ids, e.type_ids);
    out.labels_.push_back(ex.label);
    out.targets_.push_back(ex.target);
    out.lines_.push_back(ex.line);
  }
  return out;
}

TokenizedDataset TokenizedDataset::from_blocks(const LmBlocks& blocks) {
  TokenizedDataset out;
  out.kind_ = LabelKind::causal_lm;
  out.source_ = blocks.source;
  out.bad_rows_ = blocks.bad_rows;
  const std::vector<int32_t> zeros(blocks.block_size, 0);
  for (size_t b = 0; b < blocks.num_blocks(); ++b) {
    out.push(std::span<const int32_t>(blocks.tokens).subspan(b * blocks.block_size,
                                                            blocks.block_size),
             zeros);
    out.labels_.push_back(-1);
    out.targets_.push_back(0.0f);
    out.lines_.push_back(0);
  }
  return out;
}

std::span<const int32_t> TokenizedDataset::ids(size_t i) const {
  return std::span<const int32_t>(ids_).subspan(offsets_[i], length(i));
}

std::span<const int32_t> TokenizedDataset::type_ids(size_t i) const {
  return std::span<const int32_t>(type_ids_).subspan(offsets_[i], length(i));
}

}  // namespace spt::data
