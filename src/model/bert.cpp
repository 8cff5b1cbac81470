// BERT forward and backward by hand (see include/spt/model/bert.h).
//
// Per layer (post-LN), as transformers' BertLayer:
//   a  = Attention(x)           q, k, v = x W^T + b; softmax(q k^T / sqrt(D) + mask) v
//   h1 = LN1(dropout(a W_o^T + b_o) + x)
//   y  = LN2(dropout(gelu(h1 W_i^T + b_i) W_out^T + b_out) + h1)
// Embeddings: LN((word[ids] + type[tt]) + pos[t]), then dropout.
// Pooler: tanh(h[:, 0] W_p^T + b_p). Token 0 of every sequence is gathered with
// the embedding op over the (B*T, C) hidden states (and scattered back in backward).
// With Pooling::mean (model.pooling) the pooled output is instead the mean of the
// valid tokens' hidden states (ops::mean_pool), and the pooler is not used.
#include "spt/model/bert.h"

#include "spt/core/error.h"

namespace spt::model {

namespace {

// (B, T) i32 ids b * T + t for t = 0 (first token of each sequence).
Tensor first_token_rows(int64_t B, int64_t T, Device dev) {
  std::vector<int64_t> rows(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) rows[b] = b * T;
  return Tensor::from_ints(rows, {B}, DType::i32, dev);
}


}  // namespace

// ---- the encoder ----

struct BertEncoder::Impl {
  io::BertConfig cfg;
  Tensor word, pos, type, dword, dpos, dtype;
  NormRef ln_emb;
  std::vector<TransformerBlock> layers;  // post-norm
  LinearRef pooler;
  Pooling pooling = Pooling::cls;

  // Saved by forward.
  Tensor ids, pos_ids, type_ids, emb_sum, mask, hidden, first_rows, first, pooled_pre, pooled;
  NormRef::Saved s_emb;
  DropoutParams d_emb;
  int64_t B = 0, T = 0;
};

BertEncoder::BertEncoder(const io::BertConfig& cfg, ParameterStore& ps, const ModelOptions& opts)
    : impl_(new Impl) {
  const LoraOptions* lora = &opts.lora;
  Impl& m = *impl_;
  m.cfg = cfg;
  const float eps = static_cast<float>(cfg.layer_norm_eps);
  m.word = ps.param("embeddings.word.weight");
  m.dword = ps.grad("embeddings.word.weight");
  m.pos = ps.param("embeddings.position.weight");
  m.dpos = ps.grad("embeddings.position.weight");
  m.type = ps.param("embeddings.token_type.weight");
  m.dtype = ps.grad("embeddings.token_type.weight");
  m.ln_emb = NormRef::layer_norm(ps, "embeddings.norm", eps);
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    TransformerBlock L;
    L.pre_norm = false;
    L.attention.bind(ps, l, true, lora);
    L.attention.params.heads = cfg.num_attention_heads;
    L.attention.p_attn = static_cast<float>(cfg.attention_probs_dropout_prob);
    L.attention.p_out = static_cast<float>(cfg.hidden_dropout_prob);
    L.attention.bind_sparse(ps, opts.attention);
    L.n1 = NormRef::layer_norm(ps, p + "attn_norm", eps);
    L.ffn.bind(ps, l, true, lora, cfg.activation);
    L.ffn.p_out = static_cast<float>(cfg.hidden_dropout_prob);
    L.ffn.bind_routed(ps, opts.ffn);
    L.n2 = NormRef::layer_norm(ps, p + "ffn_norm", eps);
    m.layers.push_back(std::move(L));
  }
  m.pooler = LinearRef::bind(ps, "pooler");
  m.pooling = opts.pooling;
}

BertEncoder::~BertEncoder() = default;

const Tensor& BertEncoder::forward(const EncoderBatch& batch, const StepContext& ctx) {
  Impl& m = *impl_;
  SPT_CHECK(batch.input_ids.defined() && batch.input_ids.ndim() == 2, "[bert] input_ids must be (B, T), got ",
            batch.input_ids.str());
  m.B = batch.input_ids.dim(0);
  m.T = batch.input_ids.dim(1);
  const Device dev = m.word.device();
  SPT_CHECK(m.T <= m.cfg.max_position_embeddings, "[bert] sequence length ", m.T,
            " exceeds max_position_embeddings = ", m.cfg.max_position_embeddings,
            "; hint: set a smaller max length in the tokenisation settings");
  m.ids = batch.input_ids;
  std::vector<int64_t> pos(static_cast<size_t>(m.B * m.T));
  for (int64_t i = 0; i < m.B * m.T; ++i) pos[i] = i % m.T;
  m.pos_ids = Tensor::from_ints(pos, {m.B, m.T}, DType::i32, dev);
  m.type_ids = batch.token_type_ids.defined() ? batch.token_type_ids
                                              : Tensor::zeros({m.B, m.T}, DType::i32, dev);
  m.mask = batch.attention_mask;

  Tensor we, te, pe;
  ops::embedding_forward(we, m.word, m.ids);
  ops::embedding_forward(te, m.type, m.type_ids);
  ops::embedding_forward(pe, m.pos, m.pos_ids);
  Tensor sum1;
  ops::residual_forward(sum1, we, te);
  m.emb_sum = Tensor();
  ops::residual_forward(m.emb_sum, sum1, pe);
  Tensor h = m.ln_emb.forward(m.s_emb, m.emb_sum);
  m.d_emb = dropout_at(ctx, static_cast<float>(m.cfg.hidden_dropout_prob), 0, 0, h.numel());
  ops::dropout_forward(h, h, m.d_emb);
  for (TransformerBlock& L : m.layers) h = L.forward(h, m.mask, ctx);
  m.hidden = h;

  m.first = m.pooled_pre = m.pooled = Tensor();
  if (m.pooling == Pooling::mean) {
    ops::mean_pool_forward(m.pooled, m.hidden, m.mask);
    return m.hidden;
  }
  // Pooler on the first token.
  m.first_rows = first_token_rows(m.B, m.T, dev);
  ops::embedding_forward(m.first, m.hidden.reshape({m.B * m.T, -1}), m.first_rows);
  m.pooler.forward(m.pooled_pre, m.first);
  ops::activation_forward(Activation::tanh, m.pooled, m.pooled_pre);
  return m.hidden;
}

const Tensor& BertEncoder::pooled() const { return impl_->pooled; }

void BertEncoder::backward(const Tensor& d_pooled, const Tensor& d_hidden) {
  Impl& m = *impl_;
  const int64_t C = m.cfg.hidden_size;
  Tensor dh;
  if (m.pooling == Pooling::mean && d_pooled.defined()) {
    dh = Tensor::empty({m.B, m.T, C}, m.hidden.dtype(), m.hidden.device());
    ops::mean_pool_backward(dh, d_pooled, m.mask);
    if (d_hidden.defined()) ops::accumulate(dh, d_hidden);
  } else {
    dh = d_hidden.defined() ? d_hidden.clone() : Tensor::zeros({m.B, m.T, C}, m.hidden.dtype(), m.hidden.device());
  }
  if (d_pooled.defined() && m.pooling == Pooling::cls) {
    Tensor d_pre, d_first;
    ops::activation_backward(Activation::tanh, d_pre, d_pooled, m.pooled_pre);
    m.pooler.backward(d_first, d_pre, m.first);
    Tensor flat = dh.reshape({m.B * m.T, C});
    ops::embedding_backward(flat, d_first, m.first_rows);  // scatter into token 0
  }
  for (size_t l = m.layers.size(); l-- > 0;) dh = m.layers[l].backward(dh);
  // Nothing to train below the layers (a frozen base under LoRA): stop here.
  if (!m.dword.defined() && !m.dtype.defined() && !m.dpos.defined() && !m.ln_emb.dw.defined() &&
      !m.ln_emb.db.defined())
    return;
  Tensor d_h;
  ops::dropout_backward(d_h, dh, m.d_emb);
  const Tensor d_sum = m.ln_emb.backward(d_h, m.emb_sum, m.s_emb);
  if (m.dword.defined()) ops::embedding_backward(m.dword, d_sum, m.ids);
  if (m.dtype.defined()) ops::embedding_backward(m.dtype, d_sum, m.type_ids);
  if (m.dpos.defined()) ops::embedding_backward(m.dpos, d_sum, m.pos_ids);
}

// ---- the classification head ----

struct BertClassifier::Impl {
  std::unique_ptr<BertEncoder> encoder;
  LinearRef classifier;
  int64_t num_labels = 2;
  float p_drop = 0.1f;
  // Saved.
  Tensor dropped, logits, labels;
  DropoutParams d_cls;
  ops::CrossEntropySaved ce;
  ops::MseSaved mse;
};

BertClassifier::BertClassifier(const io::BertConfig& cfg, int64_t num_labels, ParameterStore& ps,
                               const ModelOptions& opts)
    : impl_(new Impl) {
  SPT_CHECK(num_labels >= 1, "[bert] num_labels must be >= 1, got ", num_labels);
  impl_->encoder = std::make_unique<BertEncoder>(cfg, ps, opts);
  impl_->classifier = LinearRef::bind(ps, "classifier");
  impl_->num_labels = num_labels;
  impl_->p_drop = static_cast<float>(cfg.classifier_dropout.value_or(cfg.hidden_dropout_prob));
}

BertClassifier::~BertClassifier() = default;

BertEncoder& BertClassifier::encoder() { return *impl_->encoder; }

const Tensor& BertClassifier::forward(const EncoderBatch& batch, const StepContext& ctx) {
  Impl& m = *impl_;
  m.encoder->forward(batch, ctx);
  m.d_cls = dropout_at(ctx, m.p_drop, 0, 3, m.encoder->pooled().numel());
  m.dropped = m.logits = Tensor();
  ops::dropout_forward(m.dropped, m.encoder->pooled(), m.d_cls);
  m.classifier.forward(m.logits, m.dropped);
  return m.logits;
}

double BertClassifier::loss(const Tensor& labels, double normalizer) {
  Impl& m = *impl_;
  SPT_CHECK(m.logits.defined(), "[bert] loss() called before forward()");
  m.labels = labels;
  if (m.num_labels == 1) {
    const double n = normalizer > 0 ? normalizer : static_cast<double>(m.logits.dim(0));
    return ops::mse_forward(m.mse, m.logits, labels, n);
  }
  ops::CrossEntropyOptions opt;
  opt.normalizer = normalizer;
  m.ce = {};
  return ops::cross_entropy_forward(m.ce, m.logits, labels, opt);
}

void BertClassifier::backward() {
  Impl& m = *impl_;
  SPT_CHECK(m.labels.defined(), "[bert] backward() called before loss()");
  Tensor d_logits, d_dropped, d_pooled;
  if (m.num_labels == 1) ops::mse_backward(d_logits, m.logits, m.labels, m.mse);
  else ops::cross_entropy_backward(d_logits, m.logits, m.labels, m.ce);
  m.classifier.backward(d_dropped, d_logits, m.dropped);
  ops::dropout_backward(d_pooled, d_dropped, m.d_cls);
  m.encoder->backward(d_pooled, Tensor());
}

}  // namespace spt::model
