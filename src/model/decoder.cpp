// The causal-LM and sequence-classification heads of decoder-only models
// (see include/spt/model/decoder.h).
#include "spt/model/decoder.h"

#include "spt/core/error.h"

namespace spt::model {

// ---- causal LM ----

struct CausalLanguageModel::Impl {
  std::unique_ptr<Decoder> decoder;
  LinearRef head;  // lm_head, or when tied the word embeddings as a (V, C) linear without bias
  Tensor hidden, logits, targets;
  ops::CrossEntropySaved ce;
};

CausalLanguageModel::CausalLanguageModel(std::unique_ptr<Decoder> decoder, ParameterStore& ps)
    : impl_(new Impl) {
  impl_->decoder = std::move(decoder);
  if (ps.has("lm_head.weight")) {  // tie_word_embeddings = false: its own (V, C) matrix
    impl_->head = LinearRef::bind(ps, "lm_head", false);
    return;
  }
  impl_->head.w = ps.param("embeddings.word.weight");
  impl_->head.dw = ps.grad("embeddings.word.weight");
  impl_->head.compute = ps.compute_dtype();
}

CausalLanguageModel::~CausalLanguageModel() = default;

const Tensor& CausalLanguageModel::forward(const EncoderBatch& batch, const StepContext& ctx) {
  Impl& m = *impl_;
  m.hidden = m.decoder->forward(batch, ctx);
  m.logits = Tensor();
  m.head.forward(m.logits, m.hidden);
  return m.logits;
}

// Shifted targets: row (b, t) predicts labels[b, t + 1]; the last position predicts nothing.
static std::vector<int64_t> shifted_targets(const Tensor& labels) {
  const int64_t B = labels.dim(0), T = labels.dim(1);
  const std::vector<int64_t> l = labels.to_ints();
  std::vector<int64_t> t(l.size(), -100);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i + 1 < T; ++i) t[b * T + i] = l[b * T + i + 1];
  return t;
}

int64_t CausalLanguageModel::count_targets(const Tensor& labels) {
  int64_t n = 0;
  for (int64_t t : shifted_targets(labels)) n += t != -100;
  return n;
}

double CausalLanguageModel::loss(const Tensor& labels, double normalizer) {
  Impl& m = *impl_;
  SPT_CHECK(m.logits.defined(), "[model] loss() called before forward()");
  SPT_CHECK(labels.ndim() == 2 && labels.dim(0) == m.logits.dim(0) && labels.dim(1) == m.logits.dim(1),
            "[model] labels must be (B, T) = (", m.logits.dim(0), ", ", m.logits.dim(1), "), got ",
            labels.str());
  m.targets = Tensor::from_ints(shifted_targets(labels), {labels.numel()}, DType::i32,
                                m.logits.device());
  ops::CrossEntropyOptions opt;
  opt.normalizer = normalizer;
  m.ce = {};
  return ops::cross_entropy_forward(m.ce, m.logits.reshape({labels.numel(), -1}), m.targets, opt);
}

void CausalLanguageModel::backward() {
  Impl& m = *impl_;
  SPT_CHECK(m.targets.defined(), "[model] backward() called before loss()");
  const Tensor logits2 = m.logits.reshape({m.targets.numel(), -1});
  Tensor d_logits, d_hidden;
  ops::cross_entropy_backward(d_logits, logits2, m.targets, m.ce);
  m.head.backward(d_hidden, d_logits.reshape(m.logits.shape()), m.hidden);
  m.decoder->backward(d_hidden);
}

// ---- sequence classification ----

struct DecoderClassifier::Impl {
  std::unique_ptr<Decoder> decoder;
  LinearRef score;
  std::optional<int64_t> pad_token_id;
  Tensor hidden, all_logits, rows, logits, labels;
  ops::CrossEntropySaved ce;
  ops::MseSaved mse;
  int64_t num_labels = 2;
};

DecoderClassifier::DecoderClassifier(std::unique_ptr<Decoder> decoder, ParameterStore& ps, int64_t num_labels,
                                     std::optional<int64_t> pad_token_id)
    : impl_(new Impl) {
  impl_->decoder = std::move(decoder);
  impl_->score = LinearRef::bind(ps, "classifier", false);
  impl_->pad_token_id = pad_token_id;
  impl_->num_labels = num_labels;
}

DecoderClassifier::~DecoderClassifier() = default;

const Tensor& DecoderClassifier::forward(const EncoderBatch& batch, const StepContext& ctx) {
  Impl& m = *impl_;
  m.hidden = m.decoder->forward(batch, ctx);
  const int64_t B = batch.input_ids.dim(0), T = batch.input_ids.dim(1);
  // The rightmost token that is not pad_token_id, as transformers does. Without a
  // pad token in the config (GPT-2's checkpoints), transformers refuses batches of
  // more than one row; spt reads the last token the attention mask keeps (what a
  // transformers user gets after setting pad_token_id to the padding id), else T - 1.
  const std::vector<int64_t> ids = batch.input_ids.to_ints();
  const std::vector<int64_t> mask = !m.pad_token_id && batch.attention_mask.defined()
                                        ? batch.attention_mask.to_ints() : std::vector<int64_t>();
  std::vector<int64_t> rows(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    int64_t last = T - 1;
    if (m.pad_token_id || !mask.empty()) {
      last = 0;
      for (int64_t t = 0; t < T; ++t)
        if (m.pad_token_id ? ids[b * T + t] != *m.pad_token_id : mask[b * T + t] != 0) last = t;
    }
    rows[b] = b * T + last;
  }
  m.rows = Tensor::from_ints(rows, {B}, DType::i32, m.hidden.device());
  m.all_logits = m.logits = Tensor();
  m.score.forward(m.all_logits, m.hidden);
  ops::embedding_forward(m.logits, m.all_logits.reshape({B * T, -1}), m.rows);
  return m.logits;
}

double DecoderClassifier::loss(const Tensor& labels, double normalizer) {
  Impl& m = *impl_;
  SPT_CHECK(m.logits.defined(), "[model] loss() called before forward()");
  m.labels = labels;
  if (m.num_labels == 1) return ops::mse_forward(m.mse, m.logits, labels, normalizer);
  ops::CrossEntropyOptions opt;
  opt.normalizer = normalizer;
  m.ce = {};
  return ops::cross_entropy_forward(m.ce, m.logits, labels, opt);
}

void DecoderClassifier::backward() {
  Impl& m = *impl_;
  SPT_CHECK(m.labels.defined(), "[model] backward() called before loss()");
  Tensor d_logits, d_hidden;
  if (m.num_labels == 1) ops::mse_backward(d_logits, m.logits, m.labels, m.mse);
  else ops::cross_entropy_backward(d_logits, m.logits, m.labels, m.ce);
  Tensor d_all = Tensor::zeros(m.all_logits.shape(), m.all_logits.dtype(), m.all_logits.device());
  Tensor flat = d_all.reshape({m.rows.numel() > 0 ? d_all.numel() / d_all.dim(-1) : 0, -1});
  ops::embedding_backward(flat, d_logits, m.rows);
  m.score.backward(d_hidden, d_all, m.hidden);
  m.decoder->backward(d_hidden);
}

}  // namespace spt::model
