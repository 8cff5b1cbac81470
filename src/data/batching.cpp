// Padding examples into batches and batches into tensors (see spt/data/batching.h).
#include "spt/data/batching.h"

#include <algorithm>
#include <cstring>

#include "spt/core/error.h"

namespace spt::data {

int32_t pad_id_for(const tokenize::Tokenizer& tok) {
  const auto& s = tok.special();
  if (s.pad_id) return *s.pad_id;
  if (s.eos_id) return *s.eos_id;
  fail("[data] the ", tok.family(), " tokenizer has neither a pad nor an EOS token to pad "
       "batches with; hint: add \"pad_token\" to the model's tokenizer_config.json");
}

Batch make_batch(const TokenizedDataset& data, std::span<const size_t> indices,
                 const BatchOptions& opt, int32_t pad_id) {
  SPT_CHECK(!indices.empty(), "[data] make_batch: no examples");
  Batch b;
  b.rows = indices.size();
  b.label_kind = data.label_kind();
  b.indices.assign(indices.begin(), indices.end());
  size_t longest = 0;
  for (const size_t i : indices) {
    SPT_CHECK(i < data.size(), "[data] make_batch: index ", i, " past the ", data.size(),
              " examples");
    longest = std::max(longest, data.length(i));
  }
  b.seq = longest;
  if (opt.pad_to == PadTo::max_length) {
    SPT_CHECK(opt.max_length >= 1, "[data] padding to max_length needs max_length >= 1; "
                                   "hint: set tokenizer.max_length");
    SPT_CHECK(longest <= opt.max_length, "[data] example ", b.indices[0], "... of ",
              data.source(), " has ", longest, " tokens, more than max_length ",
              opt.max_length, "; hint: tokenize with truncation to max_length");
    b.seq = opt.max_length;
  }
  const size_t T = b.seq;
  b.input_ids.assign(b.rows * T, pad_id);
  b.token_type_ids.assign(b.rows * T, 0);
  b.attention_mask.assign(b.rows * T, 0);
  const bool lm = b.label_kind == LabelKind::causal_lm;
  if (lm) b.labels.assign(b.rows * T, kIgnoreIndex);
  for (size_t r = 0; r < b.rows; ++r) {
    const size_t i = indices[r], n = data.length(i);
    const size_t at = r * T + (opt.padding_side == tokenize::Side::left ? T - n : 0);
    const auto ids = data.ids(i), types = data.type_ids(i);
    std::copy(ids.begin(), ids.end(), b.input_ids.begin() + static_cast<std::ptrdiff_t>(at));
    std::copy(types.begin(), types.end(),
              b.token_type_ids.begin() + static_cast<std::ptrdiff_t>(at));
    std::fill_n(b.attention_mask.begin() + static_cast<std::ptrdiff_t>(at), n, 1);
    if (lm) std::copy(ids.begin(), ids.end(), b.labels.begin() + static_cast<std::ptrdiff_t>(at));
    if (b.label_kind == LabelKind::classification) b.labels.push_back(data.label(i));
    if (b.label_kind == LabelKind::regression) b.targets.push_back(data.target(i));
  }
  return b;
}

namespace {

template <class T>
Tensor host_tensor(const std::vector<T>& v, const Shape& shape, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, Device::cpu());
  std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(T));
  return device.is_cpu() ? t : t.to(device);
}

}  // namespace

Batch slice_rows(const Batch& b, size_t r0, size_t r1) {
  SPT_CHECK(r0 <= r1 && r1 <= b.rows, "[batch] rows [", r0, ", ", r1, ") of a batch of ", b.rows);
  Batch s;
  s.rows = r1 - r0;
  s.seq = b.seq;
  s.label_kind = b.label_kind;
  auto cut = [&](const auto& v, size_t per_row) {
    using V = std::decay_t<decltype(v)>;
    if (v.empty()) return V();
    return V(v.begin() + static_cast<std::ptrdiff_t>(r0 * per_row), v.begin() + static_cast<std::ptrdiff_t>(r1 * per_row));
  };
  s.input_ids = cut(b.input_ids, b.seq);
  s.token_type_ids = cut(b.token_type_ids, b.seq);
  s.attention_mask = cut(b.attention_mask, b.seq);
  s.labels = cut(b.labels, b.label_kind == LabelKind::causal_lm ? b.seq : 1);
  s.targets = cut(b.targets, 1);
  s.indices = cut(b.indices, 1);
  return s;
}

BatchTensors to_tensors(const Batch& b, Device device) {
  const Shape bt = {static_cast<int64_t>(b.rows), static_cast<int64_t>(b.seq)};
  const Shape rows = {static_cast<int64_t>(b.rows)};
  BatchTensors t;
  t.input_ids = host_tensor(b.input_ids, bt, DType::i32, device);
  t.token_type_ids = host_tensor(b.token_type_ids, bt, DType::i32, device);
  t.attention_mask = host_tensor(b.attention_mask, bt, DType::i32, device);
  switch (b.label_kind) {
    case LabelKind::classification: t.labels = host_tensor(b.labels, rows, DType::i32, device); break;
    case LabelKind::regression: t.labels = host_tensor(b.targets, rows, DType::f32, device); break;
    case LabelKind::causal_lm: t.labels = host_tensor(b.labels, bt, DType::i32, device); break;
    case LabelKind::none: break;
  }
  return t;
}

}  // namespace spt::data
