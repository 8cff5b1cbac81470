// OPT forward and backward by hand (see include/spt/model/opt.h).
//
// Per block, as transformers' OPTDecoderLayer:
//   do_layer_norm_before (pre-LN):  h = x + drop(attn(ln1(x)));  y = h + drop(fc2(relu(fc1(ln2(h)))))
//   otherwise (post-LN, OPT-350m):  h = ln1(x + drop(attn(x)));  y = ln2(h + drop(fc2(relu(fc1(h)))))
// Attention: q, k, v, out_proj, scores scaled by 1/sqrt(D), causal plus the key
// padding mask, dropout attention_dropout on the probabilities.
// Embeddings: project_in(embed_tokens[ids]) + embed_positions[p + 2] with
// p = (cumsum of the attention mask) * mask - 1 along each row (OPT's learned
// positions count real tokens only: left padding shifts nothing, padded slots
// take p = -1); no embedding dropout.
// Output: project_out(final_layer_norm(h)), each when the model has it.
#include "spt/model/opt.h"

#include <cmath>

#include "spt/core/error.h"

namespace spt::model {

struct OptDecoder::Impl {
  io::OptConfig cfg;
  Tensor wte, dwte, wpe, dwpe;
  LinearRef project_in, project_out;  // bound when E != C
  std::vector<TransformerBlock> blocks;
  NormRef ln_f;                  // bound when the config has final_layer_norm
  // Saved.
  Tensor ids, pos_ids, emb, h_final_in, normed, out;
  NormRef::Saved s_f;
};

OptDecoder::OptDecoder(const io::OptConfig& cfg, ParameterStore& ps, const ModelOptions& opts) : impl_(new Impl) {
  const LoraOptions* lora = &opts.lora;
  Impl& m = *impl_;
  m.cfg = cfg;
  const float eps = 1e-5f;  // nn.LayerNorm's default, which OPT keeps
  m.wte = ps.param("embeddings.word.weight");
  m.dwte = ps.grad("embeddings.word.weight");
  m.wpe = ps.param("embeddings.position.weight");
  m.dwpe = ps.grad("embeddings.position.weight");
  if (cfg.projects()) {
    m.project_in = LinearRef::bind(ps, "embeddings.project_in", false);
    m.project_out = LinearRef::bind(ps, "project_out", false);
  }
  const int64_t C = cfg.hidden_size;
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    TransformerBlock b;
    b.pre_norm = cfg.do_layer_norm_before;
    b.n1 = NormRef::layer_norm(ps, p + "attn_norm", eps);
    b.n2 = NormRef::layer_norm(ps, p + "ffn_norm", eps);
    b.attention.bind(ps, l, cfg.enable_bias, lora);
    b.attention.params.heads = cfg.num_attention_heads;
    b.attention.params.causal = true;
    b.attention.params.scale = 1.f / std::sqrt(static_cast<float>(C / cfg.num_attention_heads));
    b.attention.p_attn = static_cast<float>(cfg.attention_dropout);
    b.attention.p_out = static_cast<float>(cfg.dropout);
    b.attention.bind_sparse(ps, opts.attention);
    b.ffn.bind(ps, l, cfg.enable_bias, lora, cfg.activation);
    b.ffn.p_out = static_cast<float>(cfg.dropout);
    b.ffn.bind_routed(ps, opts.ffn);
    m.blocks.push_back(std::move(b));
  }
  if (cfg.final_norm()) m.ln_f = NormRef::layer_norm(ps, "final_norm", eps);
}

OptDecoder::~OptDecoder() = default;

const Tensor& OptDecoder::forward(const EncoderBatch& batch, const StepContext& ctx) {
  Impl& m = *impl_;
  SPT_CHECK(batch.input_ids.defined() && batch.input_ids.ndim() == 2,
            "[opt] input_ids must be (B, T), got ", batch.input_ids.str());
  const int64_t B = batch.input_ids.dim(0), T = batch.input_ids.dim(1);
  SPT_CHECK(T <= m.cfg.max_position_embeddings, "[opt] sequence length ", T, " exceeds max_position_embeddings = ",
            m.cfg.max_position_embeddings, "; hint: set a smaller max length or block size");
  const Device dev = m.wte.device();
  m.ids = batch.input_ids;
  // Positions + OPT's offset 2: padded slots read row 1 (p = -1).
  std::vector<int64_t> mask = batch.attention_mask.defined() ? batch.attention_mask.to_ints()
                                                             : std::vector<int64_t>(static_cast<size_t>(B * T), 1);
  std::vector<int64_t> pos(static_cast<size_t>(B * T));
  for (int64_t b = 0; b < B; ++b) {
    int64_t count = 0;
    for (int64_t t = 0; t < T; ++t) {
      const bool real = mask[b * T + t] != 0;
      count += real;
      pos[b * T + t] = (real ? count : 0) - 1 + 2;
    }
  }
  m.pos_ids = Tensor::from_ints(pos, {B, T}, DType::i32, dev);
  Tensor we, pe, h;
  ops::embedding_forward(we, m.wte, m.ids);
  m.emb = we;
  if (m.cfg.projects()) {
    Tensor proj;
    m.project_in.forward(proj, we, ctx);
    we = proj;
  }
  ops::embedding_forward(pe, m.wpe, m.pos_ids);
  ops::residual_forward(h, we, pe);
  for (TransformerBlock& b : m.blocks) h = b.forward(h, batch.attention_mask, ctx);
  m.h_final_in = h;
  m.normed = h;
  if (m.cfg.final_norm()) m.normed = m.ln_f.forward(m.s_f, h);
  m.out = m.normed;
  if (m.cfg.projects()) {
    m.out = Tensor();
    m.project_out.forward(m.out, m.normed, ctx);
  }
  return m.out;
}

void OptDecoder::backward(const Tensor& d_hidden) {
  Impl& m = *impl_;
  Tensor d_normed, dh;
  if (m.cfg.projects()) m.project_out.backward(d_normed, d_hidden, m.normed);
  else d_normed = d_hidden;
  dh = m.cfg.final_norm() ? m.ln_f.backward(d_normed, m.h_final_in, m.s_f) : d_normed;
  for (size_t l = m.blocks.size(); l-- > 0;) dh = m.blocks[l].backward(dh);
  if (m.dwpe.defined()) ops::embedding_backward(m.dwpe, dh, m.pos_ids);
  if (!m.dwte.defined() && !m.project_in.dw.defined()) return;  // frozen (LoRA)
  Tensor d_we = dh;
  if (m.cfg.projects()) {
    d_we = Tensor();
    m.project_in.backward(d_we, dh, m.emb, m.dwte.defined());
  }
  if (m.dwte.defined()) ops::embedding_backward(m.dwte, d_we, m.ids);
}

}  // namespace spt::model
