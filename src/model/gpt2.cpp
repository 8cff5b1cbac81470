// GPT-2 forward and backward by hand (see include/spt/model/gpt2.h).
//
// Per block (pre-LN), as transformers' GPT2Block:
//   h = h + dropout(c_proj(Attention(ln_1(h))))     q, k, v = the three row blocks of c_attn
//   h = h + dropout(c_proj(act(c_fc(ln_2(h)))))
// Embeddings: dropout(wte[ids] + wpe[t]); output: ln_f(h).
// Attention is causal plus the key padding mask, scaled by 1/sqrt(D) (and by
// 1/(layer+1) with scale_attn_by_inverse_layer_idx).
#include "spt/model/gpt2.h"

#include <cmath>

#include "spt/core/error.h"

namespace spt::model {

// ---- the decoder ----

struct Gpt2Decoder::Impl {
  io::Gpt2Config cfg;
  Tensor wte, wpe, dwte, dwpe;
  std::vector<TransformerBlock> blocks;  // pre-norm
  NormRef ln_f;
  // Saved.
  Tensor ids, pos_ids, mask, h_final_in, out;
  NormRef::Saved s_f;
  DropoutParams d_emb;
  int64_t B = 0, T = 0;
};

Gpt2Decoder::Gpt2Decoder(const io::Gpt2Config& cfg, ParameterStore& ps, const ModelOptions& opts)
    : impl_(new Impl) {
  const LoraOptions* lora = &opts.lora;
  Impl& m = *impl_;
  m.cfg = cfg;
  const float eps = static_cast<float>(cfg.layer_norm_epsilon);
  const int64_t C = cfg.n_embd;
  SPT_CHECK(C % cfg.n_head == 0, "[gpt2] n_embd ", C, " is not divisible by n_head ", cfg.n_head);
  m.wte = ps.param("embeddings.word.weight");
  m.dwte = ps.grad("embeddings.word.weight");
  m.wpe = ps.param("embeddings.position.weight");
  m.dwpe = ps.grad("embeddings.position.weight");
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    TransformerBlock b;
    b.n1 = NormRef::layer_norm(ps, p + "attn_norm", eps);
    b.n2 = NormRef::layer_norm(ps, p + "ffn_norm", eps);
    const LinearRef qkv = LinearRef::bind(ps, p + "attn.qkv", true, lora);
    b.attention.q = qkv.rows(0, C);
    b.attention.k = qkv.rows(C, 2 * C);
    b.attention.v = qkv.rows(2 * C, 3 * C);
    b.attention.o = LinearRef::bind(ps, p + "attn.out", true, lora);
    b.ffn.bind(ps, l, true, lora, cfg.activation);
    b.attention.params.heads = cfg.n_head;
    b.attention.params.causal = true;
    const float d = static_cast<float>(C / cfg.n_head);
    b.attention.params.scale = cfg.scale_attn_weights ? 1.f / std::sqrt(d) : 1.f;
    if (cfg.scale_attn_by_inverse_layer_idx) b.attention.params.scale /= static_cast<float>(l + 1);
    b.attention.p_attn = static_cast<float>(cfg.attn_pdrop);
    b.attention.p_out = static_cast<float>(cfg.resid_pdrop);
    b.attention.layer = static_cast<int>(l) + 1;
    b.attention.index = l;
    b.attention.bind_sparse(ps, opts.attention);
    b.ffn.p_out = static_cast<float>(cfg.resid_pdrop);
    b.ffn.bind_routed(ps, opts.ffn);
    m.blocks.push_back(std::move(b));
  }
  m.ln_f = NormRef::layer_norm(ps, "final_norm", eps);
}

Gpt2Decoder::~Gpt2Decoder() = default;

const Tensor& Gpt2Decoder::forward(const EncoderBatch& batch, const StepContext& ctx) {
  Impl& m = *impl_;
  SPT_CHECK(batch.input_ids.defined() && batch.input_ids.ndim() == 2,
            "[gpt2] input_ids must be (B, T), got ", batch.input_ids.str());
  m.B = batch.input_ids.dim(0);
  m.T = batch.input_ids.dim(1);
  SPT_CHECK(m.T <= m.cfg.n_positions, "[gpt2] sequence length ", m.T, " exceeds n_positions = ",
            m.cfg.n_positions, "; hint: set a smaller max length or block size");
  const Device dev = m.wte.device();
  m.ids = batch.input_ids;
  m.mask = batch.attention_mask;
  std::vector<int64_t> pos(static_cast<size_t>(m.B * m.T));
  for (int64_t i = 0; i < m.B * m.T; ++i) pos[i] = i % m.T;
  m.pos_ids = Tensor::from_ints(pos, {m.B, m.T}, DType::i32, dev);
  Tensor we, pe, h;
  ops::embedding_forward(we, m.wte, m.ids);
  ops::embedding_forward(pe, m.wpe, m.pos_ids);
  ops::residual_forward(h, we, pe);
  m.d_emb = dropout_at(ctx, static_cast<float>(m.cfg.embd_pdrop), 0, 0, h.numel());
  ops::dropout_forward(h, h, m.d_emb);
  for (TransformerBlock& b : m.blocks) h = b.forward(h, m.mask, ctx);
  m.h_final_in = h;
  m.out = m.ln_f.forward(m.s_f, h);
  return m.out;
}

void Gpt2Decoder::backward(const Tensor& d_hidden) {
  Impl& m = *impl_;
  Tensor dh = m.ln_f.backward(d_hidden, m.h_final_in, m.s_f);
  for (size_t l = m.blocks.size(); l-- > 0;) dh = m.blocks[l].backward(dh);
  if (!m.dwte.defined() && !m.dwpe.defined()) return;  // frozen embeddings (LoRA)
  Tensor d_emb;
  ops::dropout_backward(d_emb, dh, m.d_emb);
  if (m.dwte.defined()) ops::embedding_backward(m.dwte, d_emb, m.ids);
  if (m.dwpe.defined()) ops::embedding_backward(m.dwpe, d_emb, m.pos_ids);
}

}  // namespace spt::model
