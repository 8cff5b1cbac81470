// LLaMA forward and backward by hand (see include/spt/model/llama.h).
//
// Per block, as transformers' LlamaDecoderLayer:
//   h = x + o_proj(Attention(R(q_proj(n)), R(k_proj(n)), v_proj(n)))   n = input_layernorm(x)
//   y = h + down_proj(act(gate_proj(m)) * up_proj(m))                   m = post_attention_layernorm(h)
// R = rotary embedding at positions 0..T-1 (spt/model/rope_tables.h); query
// head i reads key/value head i / (H / Hk); scores scaled by 1/sqrt(D); causal
// plus the key padding mask; dropout only on the attention probabilities
// (attention_dropout). Embeddings: embed_tokens[ids]; output: norm(h).
#include "spt/model/llama.h"

#include <cmath>

#include "spt/core/error.h"

namespace spt::model {

struct LlamaDecoder::Impl {
  io::LlamaConfig cfg;
  Tensor wte, dwte;
  std::vector<TransformerBlock> blocks;  // pre-norm
  NormRef norm;
  RotaryTables rotary;  // for the shape of the last forward
  int64_t rotary_b = -1, rotary_t = -1;
  // Saved.
  Tensor ids, h_final_in, out;
  NormRef::Saved s_f;
};

LlamaDecoder::LlamaDecoder(const io::LlamaConfig& cfg, ParameterStore& ps, const ModelOptions& opts)
    : impl_(new Impl) {
  const LoraOptions* lora = &opts.lora;
  Impl& m = *impl_;
  m.cfg = cfg;
  const float eps = static_cast<float>(cfg.rms_norm_eps);
  m.wte = ps.param("embeddings.word.weight");
  m.dwte = ps.grad("embeddings.word.weight");
  m.blocks.reserve(static_cast<size_t>(cfg.num_hidden_layers));
  for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    TransformerBlock b;
    b.n1 = NormRef::rms_norm(ps, p + "attn_norm", eps);
    b.n2 = NormRef::rms_norm(ps, p + "ffn_norm", eps);
    b.attention.bind(ps, l, cfg.attention_bias, lora);
    b.attention.params.heads = cfg.num_attention_heads;
    b.attention.params.kv_heads = cfg.num_key_value_heads;
    b.attention.params.causal = true;
    b.attention.params.scale = 1.f / std::sqrt(static_cast<float>(cfg.head_dim));
    b.attention.p_attn = static_cast<float>(cfg.attention_dropout);
    b.ffn.bind(ps, l, cfg.mlp_bias, lora, cfg.activation, /*gated=*/true);
    m.blocks.push_back(std::move(b));
  }
  // After the vector stops moving: the layers keep a pointer to the tables.
  for (TransformerBlock& b : m.blocks) {
    b.attention.rotary = &m.rotary;
    b.attention.bind_sparse(ps, opts.attention);
    b.ffn.bind_routed(ps, opts.ffn);
  }
  m.norm = NormRef::rms_norm(ps, "final_norm", eps);
}

LlamaDecoder::~LlamaDecoder() = default;

const Tensor& LlamaDecoder::forward(const EncoderBatch& batch, const StepContext& ctx) {
  Impl& m = *impl_;
  SPT_CHECK(batch.input_ids.defined() && batch.input_ids.ndim() == 2,
            "[llama] input_ids must be (B, T), got ", batch.input_ids.str());
  const int64_t B = batch.input_ids.dim(0), T = batch.input_ids.dim(1);
  if (B != m.rotary_b || T != m.rotary_t) {
    m.rotary = rotary_tables(m.cfg, B, T, m.wte.dtype(), m.wte.device());
    m.rotary_b = B;
    m.rotary_t = T;
  }
  m.ids = batch.input_ids;
  Tensor h;
  ops::embedding_forward(h, m.wte, m.ids);
  for (TransformerBlock& b : m.blocks) h = b.forward(h, batch.attention_mask, ctx);
  m.h_final_in = h;
  m.out = m.norm.forward(m.s_f, h);
  return m.out;
}

void LlamaDecoder::backward(const Tensor& d_hidden) {
  Impl& m = *impl_;
  Tensor dh = m.norm.backward(d_hidden, m.h_final_in, m.s_f);
  for (size_t l = m.blocks.size(); l-- > 0;) dh = m.blocks[l].backward(dh);
  if (m.dwte.defined()) ops::embedding_backward(m.dwte, dh, m.ids);
}

}  // namespace spt::model
