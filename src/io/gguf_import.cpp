// GGUF (LLaMA architecture) -> Hugging Face LlamaForCausalLM folder; see
// spt/io/gguf_import.h for what is mapped and how.
#include "spt/io/gguf_import.h"

#include <cstring>

#include <filesystem>
#include <map>
#include <unordered_set>

#include "spt/core/error.h"
#include "spt/io/atomic_dir.h"
#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"

namespace spt::io {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

namespace {

std::string ctx(const GgufFile& f) { return "[gguf] " + f.path(); }

// The architecture prefix of the hyper-parameter keys; only llama is imported.
std::string arch_of(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  SPT_CHECK(arch == "llama", ctx(f), ": general.architecture is \"", arch,
            "\"; hint: spt-convert import-gguf reads LLaMA-architecture files (SmolLM2, TinyLlama, Llama 2/3 "
            "and their fine-tunes)");
  return arch;
}

int64_t positive(const GgufFile& f, const std::string& key) {
  const int64_t v = f.get_int(key);
  SPT_CHECK(v > 0, ctx(f), ": \"", key, "\" = ", v, " must be positive; hint: the file is corrupt");
  SPT_CHECK(v <= (int64_t{1} << 24), ctx(f), ": \"", key, "\" = ", v,
            " is larger than any model spt accepts (at most 2^24); hint: the file is corrupt");
  return v;
}

// HF name of a GGUF tensor name ("" for tensors with no HF counterpart).
std::string hf_name(const std::string& g, int64_t layers, const std::string& where) {
  static const std::pair<const char*, const char*> top[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  for (const auto& [a, b] : top)
    if (g == a) return b;
  static const std::pair<const char*, const char*> blk[] = {
      {"attn_norm.weight", "input_layernorm.weight"},   {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},     {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},      {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.bias", "self_attn.k_proj.bias"},         {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_output.bias", "self_attn.o_proj.bias"},
  };
  if (g.rfind("blk.", 0) == 0) {
    const size_t dot = g.find('.', 4);
    if (dot != std::string::npos) {
      const std::string num = g.substr(4, dot - 4), rest = g.substr(dot + 1);
      const bool digits = !num.empty() && num.size() < 10 && num.find_first_not_of("0123456789") == std::string::npos;
      if (digits && num == std::to_string(std::stoll(num))) {  // "blk.01" is not a layer name
        const int64_t l = std::stoll(num);
        SPT_CHECK(l < layers, where, ": tensor \"", g, "\" names block ", l, " but the file has ", layers,
                  " blocks; hint: the file is corrupt");
        for (const auto& [a, b] : blk)
          if (rest == a) return "model.layers." + num + "." + b;
      }
    }
  }
  return "";
}

// GPT-2's bytes_to_unicode spelling is what tokenizer.ggml.tokens hold for
// `gpt2` tokenizers already, so vocab and merges are copied as they are.
OJson tokenizer_json(const GgufFile& f, const std::vector<std::string>& tokens, bool add_bos) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  SPT_CHECK(model == "gpt2", ctx(f), ": tokenizer.ggml.model is \"", model,
            "\"; hint: import-gguf rebuilds byte-level BPE (gpt2) tokenizers; SentencePiece (llama) ones are not "
            "supported yet");
  const std::string pre = f.has("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  // transformers keeps the GPT-2 pattern for these (formats.md 2.6); others need their own regex.
  SPT_CHECK(pre == "default" || pre == "gpt2" || pre == "smollm", ctx(f), ": tokenizer.ggml.pre is \"", pre,
            "\"; hint: import-gguf supports the GPT-2 pre-tokenizer (default, gpt2, smollm)");
  const std::vector<std::string> merges = f.get_strings("tokenizer.ggml.merges");
  std::vector<int64_t> types(tokens.size(), 1);
  if (f.has("tokenizer.ggml.token_type")) types = f.get_ints("tokenizer.ggml.token_type");
  SPT_CHECK(types.size() == tokens.size(), ctx(f), ": tokenizer.ggml.token_type has ", types.size(),
            " entries for ", tokens.size(), " tokens; hint: the file is corrupt");
  // JSON text must be UTF-8, and ordered_json's lookups are linear: duplicates
  // are found with a hash set and the entries appended in id order.
  OJson vocab = OJson::object();
  auto& entries = vocab.get_ref<OJson::object_t&>();
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < tokens.size(); ++i) {
    SPT_CHECK(is_valid_utf8(tokens[i]), ctx(f), ": tokenizer.ggml.tokens[", i, "] is not valid UTF-8; hint: the "
              "file is corrupt");
    SPT_CHECK(seen.insert(tokens[i]).second, ctx(f), ": token \"", tokens[i], "\" (id ", i,
              ") appears twice in tokenizer.ggml.tokens; hint: the file is corrupt");
    entries.emplace_back(tokens[i], i);
  }
  for (size_t i = 0; i < merges.size(); ++i)
    SPT_CHECK(is_valid_utf8(merges[i]) && merges[i].find(' ') != std::string::npos, ctx(f),
              ": tokenizer.ggml.merges[", i, "] is not \"left right\" in UTF-8; hint: the file is corrupt");
  OJson added = OJson::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] != 3 && types[i] != 4) continue;  // control -> special, user-defined -> added
    added.push_back({{"id", i}, {"content", tokens[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", types[i] == 4}, {"special", types[i] == 3}});
  }
  const OJson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                            {"use_regex", true}};
  OJson post = byte_level;
  if (add_bos) {
    const int64_t bos = f.get_int("tokenizer.ggml.bos_token_id");
    SPT_CHECK(bos >= 0 && bos < static_cast<int64_t>(tokens.size()), ctx(f), ": tokenizer.ggml.bos_token_id = ", bos,
              " is not a token id (0..", tokens.size() - 1, "); hint: the file is corrupt");
    const std::string b = tokens[static_cast<size_t>(bos)];
    post = {{"type", "TemplateProcessing"},
            {"single", {{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair",
             {{{"SpecialToken", {{"id", b}, {"type_id", 0}}}},
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
              {{"SpecialToken", {{"id", b}, {"type_id", 1}}}},
              {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{b, {{"id", b}, {"ids", {bos}}, {"tokens", {b}}}}}}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", byte_level},
          {"post_processor", post},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
            {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}}}};
}

OJson tokenizer_config(const GgufFile& f, const std::vector<std::string>& tokens, bool add_bos, int64_t max_len) {
  OJson c = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"add_bos_token", add_bos}, {"add_eos_token", false},
             {"clean_up_tokenization_spaces", false}, {"model_max_length", max_len}};
  for (const auto& [key, name] : std::vector<std::pair<const char*, const char*>>{
           {"tokenizer.ggml.bos_token_id", "bos_token"}, {"tokenizer.ggml.eos_token_id", "eos_token"},
           {"tokenizer.ggml.unknown_token_id", "unk_token"}, {"tokenizer.ggml.padding_token_id", "pad_token"}}) {
    const auto id = f.int_or(key);
    if (!id) continue;
    SPT_CHECK(*id >= 0 && *id < static_cast<int64_t>(tokens.size()), ctx(f), ": ", key, " = ", *id,
              " is not a token id (0..", tokens.size() - 1, ")");
    c[name] = tokens[static_cast<size_t>(*id)];
  }
  if (f.has("tokenizer.chat_template")) {
    const std::string& t = f.get_string("tokenizer.chat_template");
    SPT_CHECK(is_valid_utf8(t), ctx(f), ": tokenizer.chat_template is not valid UTF-8; hint: the file is corrupt");
    c["chat_template"] = t;
  }
  return c;
}

// Every tensor of the HF model the config describes.
std::map<std::string, Shape> expected_shapes(const OJson& c) {
  const int64_t V = c["vocab_size"], H = c["hidden_size"], F = c["intermediate_size"], L = c["num_hidden_layers"];
  const int64_t q = c["num_attention_heads"].get<int64_t>() * c["head_dim"].get<int64_t>();
  const int64_t kv = c["num_key_value_heads"].get<int64_t>() * c["head_dim"].get<int64_t>();
  std::map<std::string, Shape> m = {{"model.embed_tokens.weight", {V, H}}, {"model.norm.weight", {H}}};
  if (!c["tie_word_embeddings"].get<bool>()) m["lm_head.weight"] = {V, H};
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    m[p + "input_layernorm.weight"] = {H};
    m[p + "post_attention_layernorm.weight"] = {H};
    m[p + "self_attn.q_proj.weight"] = {q, H};
    m[p + "self_attn.k_proj.weight"] = {kv, H};
    m[p + "self_attn.v_proj.weight"] = {kv, H};
    m[p + "self_attn.o_proj.weight"] = {H, q};
    m[p + "mlp.gate_proj.weight"] = {F, H};
    m[p + "mlp.up_proj.weight"] = {F, H};
    m[p + "mlp.down_proj.weight"] = {H, F};
    if (c["attention_bias"].get<bool>()) {
      m[p + "self_attn.q_proj.bias"] = {q};
      m[p + "self_attn.k_proj.bias"] = {kv};
      m[p + "self_attn.v_proj.bias"] = {kv};
      m[p + "self_attn.o_proj.bias"] = {H};
    }
  }
  return m;
}

}  // namespace

OJson hf_config_from_gguf(const GgufFile& f) {
  const std::string a = arch_of(f) + ".";
  const int64_t hidden = positive(f, a + "embedding_length");
  const int64_t heads = positive(f, a + "attention.head_count");
  const int64_t kv_heads = f.has(a + "attention.head_count_kv") ? positive(f, a + "attention.head_count_kv") : heads;
  const int64_t head_dim = f.has(a + "rope.dimension_count") ? positive(f, a + "rope.dimension_count") : hidden / heads;
  const int64_t vocab = f.has(a + "vocab_size") ? positive(f, a + "vocab_size")
                                                  : static_cast<int64_t>(f.get_strings("tokenizer.ggml.tokens").size());
  SPT_CHECK(heads % kv_heads == 0, ctx(f), ": ", heads, " attention heads are not a multiple of ", kv_heads,
            " key/value heads; hint: the file is corrupt");
  const bool tied = f.find_tensor("output.weight") == nullptr;
  OJson c = {{"architectures", {"LlamaForCausalLM"}},
             {"model_type", "llama"},
             {"vocab_size", vocab},
             {"hidden_size", hidden},
             {"intermediate_size", positive(f, a + "feed_forward_length")},
             {"num_hidden_layers", positive(f, a + "block_count")},
             {"num_attention_heads", heads},
             {"num_key_value_heads", kv_heads},
             {"head_dim", head_dim},
             {"hidden_act", "silu"},
             {"max_position_embeddings", f.has(a + "context_length") ? positive(f, a + "context_length") : 2048},
             {"rms_norm_eps", f.has(a + "attention.layer_norm_rms_epsilon")
                                  ? f.get_float(a + "attention.layer_norm_rms_epsilon") : 1e-6},
             {"rope_theta", f.has(a + "rope.freq_base") ? f.get_float(a + "rope.freq_base") : 10000.0},
             {"attention_bias", f.find_tensor("blk.0.attn_q.bias") != nullptr},
             {"mlp_bias", false},
             {"tie_word_embeddings", tied},
             {"torch_dtype", "float32"}};
  const std::string scaling = f.has(a + "rope.scaling.type") ? f.get_string(a + "rope.scaling.type") : "none";
  if (scaling == "linear") {
    c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", f.get_float(a + "rope.scaling.factor")}};
  } else {
    SPT_CHECK(scaling == "none", ctx(f), ": ", a, "rope.scaling.type is \"", scaling,
              "\"; hint: import-gguf converts linear RoPE scaling only");
  }
  for (const auto& [key, name] : std::vector<std::pair<const char*, const char*>>{
           {"tokenizer.ggml.bos_token_id", "bos_token_id"}, {"tokenizer.ggml.eos_token_id", "eos_token_id"},
           {"tokenizer.ggml.padding_token_id", "pad_token_id"}})
    if (const auto id = f.int_or(key)) c[name] = *id;
  return c;
}

Tensor unpermute_qk_rows(const Tensor& w, int64_t heads) {
  SPT_CHECK(w.ndim() == 2 && heads > 0 && w.dim(0) % heads == 0 && (w.dim(0) / heads) % 2 == 0,
            "[gguf] cannot undo the Q/K row order of ", w.str(), " with ", heads, " heads");
  const int64_t d = w.dim(0) / heads, half = d / 2, cols = w.dim(1);
  SPT_CHECK(w.is_contiguous() && w.dtype() == DType::f32 && w.device() == Device::cpu(),
            "[gguf] unpermute_qk_rows needs a contiguous f32 CPU tensor");
  const Tensor& src = w;
  Tensor out = Tensor::empty(w.shape(), DType::f32);
  const float* s = src.data<float>();
  float* o = out.data<float>();
  for (int64_t hd = 0; hd < heads; ++hd)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t j = 0; j < half; ++j) {
        const float* from = s + (hd * d + 2 * j + h) * cols;
        std::copy(from, from + cols, o + (hd * d + h * half + j) * cols);
      }
  return out;
}

namespace {

// One GGUF tensor under its HF name; `qk_heads` > 0: rows to un-permute (q or k).
struct MappedTensor {
  std::string gguf, hf;
  Shape shape;
  int64_t qk_heads = 0;
};

// Every tensor of `f` mapped and checked against the config's shapes (none
// missing, none extra).
std::vector<MappedTensor> map_tensors(const GgufFile& f, const OJson& config) {
  const int64_t layers = config["num_hidden_layers"].get<int64_t>();
  const int64_t heads = config["num_attention_heads"].get<int64_t>();
  const int64_t kv_heads = config["num_key_value_heads"].get<int64_t>();
  // Each layer has at least 9 tensors: a block_count the tensor table cannot
  // hold is refused before the expected table is built (a damaged count would
  // make it millions of entries).
  SPT_CHECK(static_cast<uint64_t>(layers) <= f.tensors().size() / 9, ctx(f), ": block_count = ", layers,
            " layers need at least ", layers, " x 9 tensors, the file holds ", f.tensors().size(),
            "; hint: the file is corrupt or truncated");
  std::map<std::string, Shape> expected = expected_shapes(config);
  std::vector<MappedTensor> out;
  for (const GgufTensor& t : f.tensors()) {
    const std::string name = hf_name(t.name, layers, ctx(f));
    if (name.empty()) {
      SPT_CHECK(t.name == "rope_freqs.weight", ctx(f), ": tensor \"", t.name,
                "\" has no Hugging Face LLaMA counterpart; hint: import-gguf reads plain LLaMA files");
      fail(ctx(f), ": the file holds rope_freqs.weight (Llama 3.1-style RoPE scaling); hint: import-gguf does "
           "not convert it yet");
    }
    const auto want = expected.find(name);
    SPT_CHECK(want != expected.end() && want->second == t.shape(), ctx(f), ": tensor \"", t.name, "\" has shape ",
              shape_str(t.shape()), " but the config asks for ",
              want == expected.end() ? std::string("no such tensor") : shape_str(want->second),
              "; hint: the file is corrupt or not a plain LLaMA");
    expected.erase(want);
    const bool q = t.name.find(".attn_q.") != std::string::npos, k = t.name.find(".attn_k.") != std::string::npos;
    out.push_back({t.name, name, t.shape(), q ? heads : k ? kv_heads : 0});
  }
  for (const auto& [name, shape] : expected)
    fail(ctx(f), ": no tensor for ", name, " ", shape_str(shape), "; hint: the file is incomplete");
  return out;
}

// The tensor in HF layout, f32.
Tensor hf_tensor(const GgufFile& f, const MappedTensor& m) {
  Tensor w = f.dequantize(m.gguf);
  if (m.qk_heads == 0) return w;
  const Shape shape = w.shape();
  if (w.ndim() == 1) w = w.reshape({w.dim(0), 1});  // a bias: rows of one column
  return unpermute_qk_rows(w, m.qk_heads).reshape(shape);
}

// The tokenizer files' JSON.
void add_tokenizer(const GgufFile& f, const OJson& config, OJson& tokenizer, OJson& tokenizer_cfg) {
  // Absent: false, as llama.cpp does for byte-level BPE vocabularies.
  const bool add_bos = f.has("tokenizer.ggml.add_bos_token") && f.get_bool("tokenizer.ggml.add_bos_token");
  const std::vector<std::string> tokens = f.get_strings("tokenizer.ggml.tokens");  // read once for both files
  tokenizer = tokenizer_json(f, tokens, add_bos);
  tokenizer_cfg = tokenizer_config(f, tokens, add_bos, config["max_position_embeddings"].get<int64_t>());
}

// HF-named tensors of a GGUF file, dequantised (and un-permuted) one at a time on load.
class HfGgufReader final : public TensorReader {
 public:
  HfGgufReader(std::shared_ptr<const GgufFile> f, std::vector<MappedTensor> mapped)
      : TensorReader(f->path()), file_(std::move(f)), mapped_(std::move(mapped)) {
    for (size_t i = 0; i < mapped_.size(); ++i) add({mapped_[i].hf, StoredDType::F32, mapped_[i].shape, i}, "gguf");
  }
  std::string format() const override { return "gguf v" + std::to_string(file_->header().version) + " (as Hugging Face LLaMA)"; }

 private:
  const unsigned char* bytes(const TensorInfo& t, std::vector<unsigned char>& scratch) const override {
    const Tensor w = hf_tensor(*file_, mapped_[t.slot]);
    scratch.resize(w.nbytes());
    std::memcpy(scratch.data(), w.data_ptr(), w.nbytes());
    return scratch.data();
  }
  std::shared_ptr<const GgufFile> file_;
  std::vector<MappedTensor> mapped_;
};

}  // namespace

HfFromGguf hf_from_gguf(const GgufFile& f) {
  HfFromGguf r;
  r.config = hf_config_from_gguf(f);
  for (const MappedTensor& m : map_tensors(f, r.config)) r.tensors.emplace_back(m.hf, hf_tensor(f, m));
  add_tokenizer(f, r.config, r.tokenizer, r.tokenizer_config);
  return r;
}

GgufModel open_gguf_model(const std::string& path) {
  auto f = std::make_shared<const GgufFile>(path);
  GgufModel m;
  m.config = hf_config_from_gguf(*f);
  add_tokenizer(*f, m.config, m.tokenizer, m.tokenizer_config);
  m.tensors = std::make_unique<HfGgufReader>(f, map_tensors(*f, m.config));
  return m;
}

void write_gguf_tokenizer(const GgufModel& m, const std::string& dir) {
  fs::create_directories(dir);
  write_json_file((fs::path(dir) / "config.json").string(), m.config);
  write_json_file((fs::path(dir) / "tokenizer.json").string(), m.tokenizer);
  write_json_file((fs::path(dir) / "tokenizer_config.json").string(), m.tokenizer_config);
}

void import_gguf(const std::string& gguf_path, const std::string& out_dir) {
  const GgufFile f(gguf_path);
  HfFromGguf hf = hf_from_gguf(f);
  AtomicDir out(out_dir, "import-gguf", [](const std::string&) { return false; });
  const fs::path tmp = out.path();
  write_json_file((tmp / "config.json").string(), hf.config);
  write_safetensors((tmp / "model.safetensors").string(), hf.tensors,
                    {{"format", "pt"}, {"source", "spt-convert import-gguf " + fs::path(gguf_path).filename().string()}});
  write_json_file((tmp / "tokenizer.json").string(), hf.tokenizer);
  write_json_file((tmp / "tokenizer_config.json").string(), hf.tokenizer_config);
  out.commit();
}

}  // namespace spt::io
