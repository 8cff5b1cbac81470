// config.json parsing for bert, gpt2, llama and opt with transformers' defaults.
// References: transformers/models/{bert,gpt2,llama,opt}/configuration_*.py and
// configuration_utils.py (num_labels / id2label), modeling_rope_utils.py
// (rope_parameters / legacy rope_theta).
#include "spt/io/model_config.h"

#include <filesystem>
#include <set>

#include "spt/core/error.h"
#include "spt/ops/activation.h"

namespace spt::io {

namespace {

// Activation names spt implements (spt::ops::activation_from_name); checked
// here first so that the error names the key and the file.
const std::set<std::string> kActivations = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_tanh",
                                            "relu", "silu", "swish"};

constexpr int64_t kMaxConfigSize = int64_t{1} << 24;

class Reader {
 public:
  Reader(const Json& j, const std::string& source) : j_(j), ctx_("[config] " + source) {}
  const std::string& ctx() const { return ctx_; }

  // A required positive size; `alias` is an attribute_map name (GPT-2's
  // "hidden_size" for "n_embd") accepted in its place.
  int64_t size(const char* key, const char* alias = nullptr) {
    std::optional<int64_t> v = aliased(key, alias);
    SPT_CHECK(v.has_value(), ctx_, ": required key \"", key, "\" is missing",
              "; hint: add it (it fixes the shapes of the model's tensors)");
    return positive(key, *v);
  }
  int64_t size_or(const char* key, int64_t dflt, const char* alias = nullptr) {
    const std::optional<int64_t> v = aliased(key, alias);
    return v ? positive(key, *v) : dflt;
  }
  double number_or(const char* key, double dflt) { return get_number(j_, key, ctx_).value_or(dflt); }
  double positive_number_or(const char* key, double dflt) {
    const double v = number_or(key, dflt);
    SPT_CHECK(v > 0, ctx_, ": \"", key, "\" must be positive, got ", v, "; hint: fix the value");
    return v;
  }
  double probability_or(const char* key, double dflt) {
    const double v = number_or(key, dflt);
    SPT_CHECK(v >= 0 && v <= 1, ctx_, ": \"", key, "\" must lie in [0, 1], got ", v,
              "; hint: fix the value");
    return v;
  }
  bool bool_or(const char* key, bool dflt) { return get_bool(j_, key, ctx_).value_or(dflt); }
  // Token ids: absent keeps the default, null clears it.
  std::optional<int64_t> token_or(const char* key, std::optional<int64_t> dflt) {
    if (!j_.contains(key)) return dflt;
    if (j_[key].is_array()) return dflt;  // a list of eos ids: not used by spt
    return get_int(j_, key, ctx_);
  }
  Activation activation(const char* key, const std::string& dflt, std::string& name) {
    name = get_string(j_, key, ctx_).value_or(dflt);
    std::string list;
    for (const std::string& a : kActivations) list += (list.empty() ? "" : ", ") + a;
    SPT_CHECK(kActivations.count(name), ctx_, ": \"", key, "\" is \"", name,
              "\", which spt does not implement; hint: supported are ", list);
    return ops::activation_from_name(name);
  }

 private:
  std::optional<int64_t> aliased(const char* key, const char* alias) {
    std::optional<int64_t> v = get_int(j_, key, ctx_);
    if (alias) {
      const std::optional<int64_t> a = get_int(j_, alias, ctx_);
      SPT_CHECK(!(v && a && *v != *a), ctx_, ": \"", key, "\" = ", *v, " and its alias \"",
                alias, "\" = ", a.value_or(0), " disagree; hint: keep one of them");
      if (!v) v = a;
    }
    return v;
  }
  int64_t positive(const char* key, int64_t v) {
    SPT_CHECK(v > 0, ctx_, ": \"", key, "\" must be a positive integer, got ", v,
              "; hint: fix the value");
    // Sizes fix tensor shapes: a damaged file must not make spt allocate beyond
    // any real model (vocabularies, widths and lengths stay well under 2^24).
    SPT_CHECK(v <= kMaxConfigSize, ctx_, ": \"", key, "\" = ", v, " is larger than any model spt accepts (at most ",
              kMaxConfigSize, "); hint: the config is damaged");
    return v;
  }

  const Json& j_;
  std::string ctx_;
};

void check_divisible(const std::string& ctx, const char* a, int64_t av, const char* b, int64_t bv) {
  SPT_CHECK(av % bv == 0, ctx, ": \"", a, "\" (", av, ") must be a multiple of \"", b, "\" (", bv,
            "); hint: fix one of them");
}

void parse_bert(Reader& r, const Json& j, BertConfig& c) {
  c.vocab_size = r.size("vocab_size");
  c.hidden_size = r.size("hidden_size");
  c.num_hidden_layers = r.size("num_hidden_layers");
  c.num_attention_heads = r.size("num_attention_heads");
  c.intermediate_size = r.size("intermediate_size");
  c.max_position_embeddings = r.size_or("max_position_embeddings", 512);
  c.type_vocab_size = r.size_or("type_vocab_size", 2);
  c.activation = r.activation("hidden_act", "gelu", c.hidden_act);
  c.layer_norm_eps = r.positive_number_or("layer_norm_eps", 1e-12);
  c.hidden_dropout_prob = r.probability_or("hidden_dropout_prob", 0.1);
  c.attention_probs_dropout_prob = r.probability_or("attention_probs_dropout_prob", 0.1);
  if (get_number(j, "classifier_dropout", r.ctx()))
    c.classifier_dropout = r.probability_or("classifier_dropout", 0.0);
  c.pad_token_id = r.token_or("pad_token_id", 0);
  check_divisible(r.ctx(), "hidden_size", c.hidden_size, "num_attention_heads",
                  c.num_attention_heads);
  // Layouts spt does not implement: relative position embeddings (removed in
  // transformers 5), decoders with cross-attention.
  const std::string pos = get_string(j, "position_embedding_type", r.ctx()).value_or("absolute");
  SPT_CHECK(pos == "absolute", r.ctx(), ": position_embedding_type \"", pos,
            "\" is not supported; hint: spt implements \"absolute\" position embeddings only");
  SPT_CHECK(!r.bool_or("add_cross_attention", false) && !r.bool_or("is_decoder", false), r.ctx(),
            ": BERT as a decoder (is_decoder / add_cross_attention) is not supported; hint: use "
            "an encoder checkpoint");
}

void parse_gpt2(Reader& r, const Json& j, Gpt2Config& c) {
  c.vocab_size = r.size("vocab_size");
  c.n_embd = r.size("n_embd", "hidden_size");
  c.n_layer = r.size("n_layer", "num_hidden_layers");
  c.n_head = r.size("n_head", "num_attention_heads");
  c.n_positions = r.size_or("n_positions", 1024, "max_position_embeddings");
  c.n_inner = r.size_or("n_inner", 4 * c.n_embd);
  c.activation = r.activation("activation_function", "gelu_new", c.activation_function);
  c.layer_norm_epsilon = r.positive_number_or("layer_norm_epsilon", 1e-5);
  c.resid_pdrop = r.probability_or("resid_pdrop", 0.1);
  c.embd_pdrop = r.probability_or("embd_pdrop", 0.1);
  c.attn_pdrop = r.probability_or("attn_pdrop", 0.1);
  c.scale_attn_weights = r.bool_or("scale_attn_weights", true);
  c.scale_attn_by_inverse_layer_idx = r.bool_or("scale_attn_by_inverse_layer_idx", false);
  c.reorder_and_upcast_attn = r.bool_or("reorder_and_upcast_attn", false);
  c.bos_token_id = r.token_or("bos_token_id", 50256);
  c.eos_token_id = r.token_or("eos_token_id", 50256);
  c.pad_token_id = r.token_or("pad_token_id", std::nullopt);
  check_divisible(r.ctx(), "n_embd", c.n_embd, "n_head", c.n_head);
  SPT_CHECK(!r.bool_or("add_cross_attention", false), r.ctx(),
            ": GPT-2 with cross-attention is not supported; hint: use a decoder-only checkpoint");
  (void)j;
}

// The scaling parameters of rope_type (transformers' modeling_rope_utils.py):
// linear and dynamic need factor; llama3 also low_freq_factor, high_freq_factor
// and original_max_position_embeddings. Other types are refused by name.
void parse_rope_scaling(const std::string& ctx, const Json& rp, LlamaConfig& c) {
  const std::string& t = c.rope_type;
  SPT_CHECK(t == "default" || t == "linear" || t == "dynamic" || t == "llama3", ctx, ": rope_type \"", t,
            "\" is not supported; hint: spt implements default, linear, dynamic and llama3 RoPE");
  if (auto p = get_number(rp, "partial_rotary_factor", ctx))
    SPT_CHECK(*p == 1.0, ctx, ": partial_rotary_factor ", *p, " is not supported; hint: spt rotates whole heads");
  if (t == "default") return;
  auto need = [&](const char* key) {
    const auto v = get_number(rp, key, ctx);
    SPT_CHECK(v.has_value(), ctx, ": rope_type \"", t, "\" needs \"", key, "\"; hint: add it (see transformers' "
              "modeling_rope_utils.py)");
    SPT_CHECK(*v > 0, ctx, ": \"", key, "\" must be positive, got ", *v);
    return *v;
  };
  c.rope_factor = need("factor");
  if (t != "llama3") return;
  c.rope_low_freq_factor = need("low_freq_factor");
  c.rope_high_freq_factor = need("high_freq_factor");
  SPT_CHECK(c.rope_high_freq_factor > c.rope_low_freq_factor, ctx, ": high_freq_factor must exceed low_freq_factor");
  c.rope_original_max_position_embeddings = static_cast<int64_t>(need("original_max_position_embeddings"));
}

void parse_llama(Reader& r, const Json& j, LlamaConfig& c) {
  c.vocab_size = r.size("vocab_size");
  c.hidden_size = r.size("hidden_size");
  c.intermediate_size = r.size("intermediate_size");
  c.num_hidden_layers = r.size("num_hidden_layers");
  c.num_attention_heads = r.size("num_attention_heads");
  c.num_key_value_heads = r.size_or("num_key_value_heads", c.num_attention_heads);
  check_divisible(r.ctx(), "hidden_size", c.hidden_size, "num_attention_heads",
                  c.num_attention_heads);
  check_divisible(r.ctx(), "num_attention_heads", c.num_attention_heads, "num_key_value_heads",
                  c.num_key_value_heads);
  c.head_dim = r.size_or("head_dim", c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = r.size_or("max_position_embeddings", 2048);
  c.activation = r.activation("hidden_act", "silu", c.hidden_act);
  c.rms_norm_eps = r.positive_number_or("rms_norm_eps", 1e-6);
  c.attention_bias = r.bool_or("attention_bias", false);
  c.mlp_bias = r.bool_or("mlp_bias", false);
  c.attention_dropout = r.probability_or("attention_dropout", 0.0);
  c.bos_token_id = r.token_or("bos_token_id", 1);
  c.eos_token_id = r.token_or("eos_token_id", 2);
  c.pad_token_id = r.token_or("pad_token_id", std::nullopt);
  // RoPE: rope_scaling (older; wins when present, as in transformers) or
  // rope_parameters (transformers 5) hold
  // rope_type and rope_theta; a top-level rope_theta is the legacy spelling.
  c.rope_theta = r.positive_number_or("rope_theta", 10000.0);
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    const Json& rp = j[key];
    SPT_CHECK(rp.is_object(), r.ctx(), ": \"", key, "\" must be an object, got ", json_kind(rp),
              "; hint: fix the value");
    const std::string sub = r.ctx() + " " + key;
    if (auto t = get_number(rp, "rope_theta", sub)) c.rope_theta = *t;
    c.rope_type = get_string(rp, "rope_type", sub)
                      .value_or(get_string(rp, "type", sub).value_or("default"));
    SPT_CHECK(c.rope_theta > 0, r.ctx(), ": rope_theta must be positive");
    parse_rope_scaling(sub, rp, c);
    break;
  }
}

void parse_opt(Reader& r, OptConfig& c) {
  c.vocab_size = r.size("vocab_size");
  c.hidden_size = r.size("hidden_size");
  c.num_hidden_layers = r.size("num_hidden_layers");
  c.ffn_dim = r.size("ffn_dim");
  c.num_attention_heads = r.size("num_attention_heads");
  check_divisible(r.ctx(), "hidden_size", c.hidden_size, "num_attention_heads", c.num_attention_heads);
  c.max_position_embeddings = r.size_or("max_position_embeddings", 2048);
  c.word_embed_proj_dim = r.size_or("word_embed_proj_dim", c.hidden_size);
  c.do_layer_norm_before = r.bool_or("do_layer_norm_before", true);
  c.remove_final_layer_norm = r.bool_or("_remove_final_layer_norm", false);
  c.enable_bias = r.bool_or("enable_bias", true);
  c.activation = r.activation("activation_function", "relu", c.activation_function);
  c.dropout = r.probability_or("dropout", 0.1);
  c.attention_dropout = r.probability_or("attention_dropout", 0.0);
  c.bos_token_id = r.token_or("bos_token_id", 2);
  c.eos_token_id = r.token_or("eos_token_id", 2);
  c.pad_token_id = r.token_or("pad_token_id", 1);
  SPT_CHECK(r.bool_or("layer_norm_elementwise_affine", true), r.ctx(),
            ": layer_norm_elementwise_affine = false is not supported; hint: spt's OPT layer norms have weights and "
            "biases");
  SPT_CHECK(r.number_or("layerdrop", 0.0) == 0.0, r.ctx(),
            ": layerdrop is not supported; hint: set \"layerdrop\": 0");
}

}  // namespace

const char* family_name(ModelFamily f) {
  switch (f) {
    case ModelFamily::bert: return "bert";
    case ModelFamily::gpt2: return "gpt2";
    case ModelFamily::llama: return "llama";
    case ModelFamily::opt: return "opt";
  }
  return "?";
}

std::string supported_model_types() { return "bert, gpt2, llama, opt"; }

int64_t ModelConfig::vocab_size() const {
  switch (family) {
    case ModelFamily::bert: return bert.vocab_size;
    case ModelFamily::gpt2: return gpt2.vocab_size;
    case ModelFamily::llama: return llama.vocab_size;
    case ModelFamily::opt: return opt.vocab_size;
  }
  return 0;
}
int64_t ModelConfig::hidden_size() const {
  switch (family) {
    case ModelFamily::bert: return bert.hidden_size;
    case ModelFamily::gpt2: return gpt2.n_embd;
    case ModelFamily::llama: return llama.hidden_size;
    case ModelFamily::opt: return opt.hidden_size;
  }
  return 0;
}
int64_t ModelConfig::num_layers() const {
  switch (family) {
    case ModelFamily::bert: return bert.num_hidden_layers;
    case ModelFamily::gpt2: return gpt2.n_layer;
    case ModelFamily::llama: return llama.num_hidden_layers;
    case ModelFamily::opt: return opt.num_hidden_layers;
  }
  return 0;
}
int64_t ModelConfig::num_heads() const {
  switch (family) {
    case ModelFamily::bert: return bert.num_attention_heads;
    case ModelFamily::gpt2: return gpt2.n_head;
    case ModelFamily::llama: return llama.num_attention_heads;
    case ModelFamily::opt: return opt.num_attention_heads;
  }
  return 0;
}

int64_t ModelConfig::max_positions() const {
  switch (family) {
    case ModelFamily::bert: return bert.max_position_embeddings;
    case ModelFamily::gpt2: return gpt2.n_positions;
    case ModelFamily::llama: return llama.max_position_embeddings;
    case ModelFamily::opt: return opt.max_position_embeddings;
  }
  return 0;
}

ModelConfig parse_model_config(const Json& j, const std::string& source) {
  const std::string ctx = "[config] " + source;
  SPT_CHECK(j.is_object(), ctx, ": must be a JSON object, got ", json_kind(j),
            "; hint: pass a Hugging Face config.json");
  ModelConfig c;
  c.raw = j;
  c.source = source;
  const std::optional<std::string> mt = get_string(j, "model_type", ctx);
  SPT_CHECK(mt.has_value(), ctx, ": required key \"model_type\" is missing; hint: add "
            "\"model_type\" (supported: ", supported_model_types(), ")");
  c.model_type = *mt;
  if (c.model_type == "bert") c.family = ModelFamily::bert;
  else if (c.model_type == "gpt2") c.family = ModelFamily::gpt2;
  else if (c.model_type == "llama") c.family = ModelFamily::llama;
  else if (c.model_type == "opt") c.family = ModelFamily::opt;
  else
    fail(ctx, ": model_type \"", c.model_type, "\" is not supported; hint: spt supports ",
         supported_model_types());

  if (j.contains("architectures") && !j["architectures"].is_null()) {
    SPT_CHECK(j["architectures"].is_array(), ctx, ": \"architectures\" must be a list of names");
    for (const Json& a : j["architectures"]) {
      SPT_CHECK(a.is_string(), ctx, ": \"architectures\" must hold strings, got ", a.dump());
      c.architectures.push_back(a.get<std::string>());
    }
  }
  // configuration_utils: id2label decides num_labels when present.
  if (j.contains("id2label") && !j["id2label"].is_null()) {
    SPT_CHECK(j["id2label"].is_object() && !j["id2label"].empty(), ctx,
              ": \"id2label\" must be a non-empty object; hint: fix or remove it");
    c.num_labels = static_cast<int64_t>(j["id2label"].size());
  } else if (auto n = get_int(j, "num_labels", ctx)) {
    SPT_CHECK(*n > 0, ctx, ": \"num_labels\" must be positive, got ", *n);
    c.num_labels = *n;
  }
  c.problem_type = get_string(j, "problem_type", ctx);

  Reader r(j, source);
  switch (c.family) {
    case ModelFamily::bert: parse_bert(r, j, c.bert); break;
    case ModelFamily::gpt2: parse_gpt2(r, j, c.gpt2); break;
    case ModelFamily::llama: parse_llama(r, j, c.llama); break;
    case ModelFamily::opt: parse_opt(r, c.opt); break;
  }
  c.tie_word_embeddings = r.bool_or("tie_word_embeddings", c.family != ModelFamily::llama);
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "config.json").string();
  return parse_model_config(read_json_file(file, "config"), file);
}

}  // namespace spt::io
