// The BERT, GPT-2, LLaMA and OPT parameter tables: spt name, shape, and Hugging Face name
// (transformers modeling_bert.py / modeling_gpt2.py / modeling_llama.py / modeling_opt.py module paths).
#include "spt/io/param_spec.h"

#include "spt/core/error.h"
#include "spt/io/weight_map.h"

namespace spt::io {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class Table {
 public:
  void add(std::string name, Shape shape, std::string hf, bool transpose = false) {
    ParamMapping m;
    m.spec = {std::move(name), std::move(shape), false};
    m.hf = std::move(hf);
    m.transpose = transpose;
    rows_.push_back(std::move(m));
  }
  // A LayerNorm: weight/bias, with the TF-era gamma/beta names accepted on load.
  void norm(const std::string& name, int64_t c, const std::string& hf, bool legacy) {
    add(name + ".weight", {c}, hf + ".weight");
    add(name + ".bias", {c}, hf + ".bias");
    if (legacy) {
      rows_[rows_.size() - 2].hf_alt = {hf + ".gamma"};
      rows_.back().hf_alt = {hf + ".beta"};
    }
  }
  void linear(const std::string& name, int64_t out, int64_t in, const std::string& hf,
              bool conv1d = false, bool bias = true) {
    add(name + ".weight", {out, in}, hf + ".weight", conv1d);
    if (bias) add(name + ".bias", {out}, hf + ".bias");
  }
  // Marks the rows added since `from` as a head (outside the base prefix when `top`).
  void mark_head(size_t from, bool top) {
    for (size_t i = from; i < rows_.size(); ++i) {
      rows_[i].spec.head = true;
      rows_[i].in_base = !top;
    }
  }
  size_t size() const { return rows_.size(); }
  std::vector<ParamMapping> take() { return std::move(rows_); }

 private:
  std::vector<ParamMapping> rows_;
};

std::vector<ParamMapping> bert_table(const ModelConfig& cfg, ModelHead head) {
  const BertConfig& c = cfg.bert;
  const int64_t C = c.hidden_size, F = c.intermediate_size;
  SPT_CHECK(head != ModelHead::causal_lm, "[weights] ", cfg.source,
            ": BERT has no causal-LM head in spt; hint: use head none or classification");
  Table t;
  t.add("embeddings.word.weight", {c.vocab_size, C}, "embeddings.word_embeddings.weight");
  t.add("embeddings.position.weight", {c.max_position_embeddings, C},
        "embeddings.position_embeddings.weight");
  t.add("embeddings.token_type.weight", {c.type_vocab_size, C},
        "embeddings.token_type_embeddings.weight");
  t.norm("embeddings.norm", C, "embeddings.LayerNorm", true);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string s = "layers." + std::to_string(i) + ".";
    const std::string h = "encoder.layer." + std::to_string(i) + ".";
    t.linear(s + "attn.q", C, C, h + "attention.self.query");
    t.linear(s + "attn.k", C, C, h + "attention.self.key");
    t.linear(s + "attn.v", C, C, h + "attention.self.value");
    t.linear(s + "attn.out", C, C, h + "attention.output.dense");
    t.norm(s + "attn_norm", C, h + "attention.output.LayerNorm", true);
    t.linear(s + "ffn.up", F, C, h + "intermediate.dense");
    t.linear(s + "ffn.down", C, F, h + "output.dense");
    t.norm(s + "ffn_norm", C, h + "output.LayerNorm", true);
  }
  // BertModel and BertForSequenceClassification both have the pooler; it may
  // be missing from checkpoints of other heads (e.g. BertForMaskedLM).
  size_t from = t.size();
  t.linear("pooler", C, C, "pooler.dense");
  t.mark_head(from, false);
  if (head == ModelHead::sequence_classification) {
    from = t.size();
    t.linear("classifier", cfg.num_labels, C, "classifier");
    t.mark_head(from, true);
  }
  return t.take();
}

std::vector<ParamMapping> gpt2_table(const ModelConfig& cfg, ModelHead head) {
  const Gpt2Config& c = cfg.gpt2;
  const int64_t C = c.n_embd, F = c.n_inner;
  Table t;
  t.add("embeddings.word.weight", {c.vocab_size, C}, "wte.weight");
  t.add("embeddings.position.weight", {c.n_positions, C}, "wpe.weight");
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string s = "layers." + std::to_string(i) + ".";
    const std::string h = "h." + std::to_string(i) + ".";
    t.norm(s + "attn_norm", C, h + "ln_1", false);
    t.linear(s + "attn.qkv", 3 * C, C, h + "attn.c_attn", true);
    t.linear(s + "attn.out", C, C, h + "attn.c_proj", true);
    t.norm(s + "ffn_norm", C, h + "ln_2", false);
    t.linear(s + "ffn.up", F, C, h + "mlp.c_fc", true);
    t.linear(s + "ffn.down", C, F, h + "mlp.c_proj", true);
  }
  t.norm("final_norm", C, "ln_f", false);
  const size_t from = t.size();
  if (head == ModelHead::causal_lm && !cfg.tie_word_embeddings)
    t.linear("lm_head", c.vocab_size, C, "lm_head", false, false);
  if (head == ModelHead::sequence_classification)
    t.linear("classifier", cfg.num_labels, C, "score", false, false);
  t.mark_head(from, true);
  return t.take();
}

// LLaMA (transformers modeling_llama.py): RMSNorm weights only, separate q/k/v
// projections (k and v with num_key_value_heads heads), SwiGLU gate/up/down;
// biases when attention_bias / mlp_bias.
std::vector<ParamMapping> llama_table(const ModelConfig& cfg, ModelHead head) {
  const LlamaConfig& c = cfg.llama;
  const int64_t C = c.hidden_size, F = c.intermediate_size, Q = c.num_attention_heads * c.head_dim,
                KV = c.num_key_value_heads * c.head_dim;
  Table t;
  t.add("embeddings.word.weight", {c.vocab_size, C}, "embed_tokens.weight");
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string s = "layers." + std::to_string(i) + ".";
    const std::string h = "layers." + std::to_string(i) + ".";
    t.add(s + "attn_norm.weight", {C}, h + "input_layernorm.weight");
    t.linear(s + "attn.q", Q, C, h + "self_attn.q_proj", false, c.attention_bias);
    t.linear(s + "attn.k", KV, C, h + "self_attn.k_proj", false, c.attention_bias);
    t.linear(s + "attn.v", KV, C, h + "self_attn.v_proj", false, c.attention_bias);
    t.linear(s + "attn.out", C, Q, h + "self_attn.o_proj", false, c.attention_bias);
    t.add(s + "ffn_norm.weight", {C}, h + "post_attention_layernorm.weight");
    t.linear(s + "ffn.gate", F, C, h + "mlp.gate_proj", false, c.mlp_bias);
    t.linear(s + "ffn.up", F, C, h + "mlp.up_proj", false, c.mlp_bias);
    t.linear(s + "ffn.down", C, F, h + "mlp.down_proj", false, c.mlp_bias);
  }
  t.add("final_norm.weight", {C}, "norm.weight");
  const size_t from = t.size();
  if (head == ModelHead::causal_lm && !cfg.tie_word_embeddings)
    t.linear("lm_head", c.vocab_size, C, "lm_head", false, false);
  if (head == ModelHead::sequence_classification)
    t.linear("classifier", cfg.num_labels, C, "score", false, false);
  t.mark_head(from, true);
  return t.take();
}

// OPT (transformers modeling_opt.py): learned positions with 2 extra rows (the
// offset), layer norms before or after each sub-block, ReLU fc1/fc2, optional
// project_in / project_out between word_embed_proj_dim E and hidden_size.
std::vector<ParamMapping> opt_table(const ModelConfig& cfg, ModelHead head) {
  const OptConfig& c = cfg.opt;
  const int64_t C = c.hidden_size, F = c.ffn_dim, E = c.word_embed_proj_dim;
  const bool bias = c.enable_bias;
  Table t;
  t.add("embeddings.word.weight", {c.vocab_size, E}, "decoder.embed_tokens.weight");
  t.add("embeddings.position.weight", {c.max_position_embeddings + 2, C}, "decoder.embed_positions.weight");
  if (c.projects()) t.linear("embeddings.project_in", C, E, "decoder.project_in", false, false);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string s = "layers." + std::to_string(i) + ".";
    const std::string h = "decoder.layers." + std::to_string(i) + ".";
    t.norm(s + "attn_norm", C, h + "self_attn_layer_norm", false);
    t.linear(s + "attn.q", C, C, h + "self_attn.q_proj", false, bias);
    t.linear(s + "attn.k", C, C, h + "self_attn.k_proj", false, bias);
    t.linear(s + "attn.v", C, C, h + "self_attn.v_proj", false, bias);
    t.linear(s + "attn.out", C, C, h + "self_attn.out_proj", false, bias);
    t.norm(s + "ffn_norm", C, h + "final_layer_norm", false);
    t.linear(s + "ffn.up", F, C, h + "fc1", false, bias);
    t.linear(s + "ffn.down", C, F, h + "fc2", false, bias);
  }
  if (c.final_norm()) t.norm("final_norm", C, "decoder.final_layer_norm", false);
  if (c.projects()) t.linear("project_out", E, C, "decoder.project_out", false, false);
  const size_t from = t.size();
  if (head == ModelHead::causal_lm && !cfg.tie_word_embeddings)
    t.linear("lm_head", c.vocab_size, E, "lm_head", false, false);
  if (head == ModelHead::sequence_classification)
    t.linear("classifier", cfg.num_labels, E, "score", false, false);
  t.mark_head(from, true);
  return t.take();
}

}  // namespace

const char* head_name(ModelHead h) {
  switch (h) {
    case ModelHead::none: return "none";
    case ModelHead::sequence_classification: return "classification";
    case ModelHead::causal_lm: return "causal_lm";
  }
  return "?";
}

ModelHead head_from_name(const std::string& name) {
  for (ModelHead h : {ModelHead::none, ModelHead::sequence_classification, ModelHead::causal_lm})
    if (name == head_name(h)) return h;
  fail("[weights] unknown head \"", name, "\"; hint: use none, classification or causal_lm");
}

ModelHead head_from_architectures(const ModelConfig& c) {
  for (const std::string& a : c.architectures) {
    if (ends_with(a, "ForSequenceClassification")) return ModelHead::sequence_classification;
    if (ends_with(a, "LMHeadModel") || ends_with(a, "ForCausalLM")) return ModelHead::causal_lm;
  }
  return ModelHead::none;
}

std::string hf_architecture(const ModelConfig& c, ModelHead head) {
  const std::string base = c.family == ModelFamily::bert    ? "Bert"
                           : c.family == ModelFamily::gpt2  ? "GPT2"
                           : c.family == ModelFamily::llama ? "Llama"
                                                            : "OPT";
  switch (head) {
    case ModelHead::none: return base + "Model";
    case ModelHead::sequence_classification: return base + "ForSequenceClassification";
    case ModelHead::causal_lm: return c.family == ModelFamily::gpt2 ? "GPT2LMHeadModel" : base + "ForCausalLM";
  }
  return base + "Model";
}

std::vector<ParamMapping> param_mappings(const ModelConfig& c, ModelHead head) {
  switch (c.family) {
    case ModelFamily::bert: return bert_table(c, head);
    case ModelFamily::gpt2: return gpt2_table(c, head);
    case ModelFamily::llama: return llama_table(c, head);
    case ModelFamily::opt: return opt_table(c, head);
  }
  fail("[weights] ", c.source, ": unknown model family");
}

std::string base_prefix(ModelFamily f) {
  return f == ModelFamily::bert ? "bert." : f == ModelFamily::gpt2 ? "transformer." : "model.";  // llama, opt
}

std::vector<ParamSpec> param_specs(const ModelConfig& c, ModelHead head) {
  std::vector<ParamSpec> out;
  for (ParamMapping& m : param_mappings(c, head)) out.push_back(std::move(m.spec));
  return out;
}

int64_t count_params(const std::vector<ParamSpec>& specs) {
  int64_t n = 0;
  for (const ParamSpec& s : specs) n += shape_numel(s.shape);
  return n;
}

}  // namespace spt::io
