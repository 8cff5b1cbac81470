// Building a tokenizer from HF's tokenizer.json: model WordPiece (with BertNormalizer
// and BertPreTokenizer) or BPE (with the ByteLevel pre-tokenizer), its added_tokens
// and its post_processor (TemplateProcessing, BertProcessing or ByteLevel).
#include "spt/core/error.h"
#include "spt/tokenize/bpe.h"
#include "spt/tokenize/wordpiece.h"
#include "src/tokenize/json_file.h"
#include "src/tokenize/load_detail.h"

namespace spt::tokenize::detail {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Ctx {
  const fs::path& file;
  [[noreturn]] void bad(const std::string& what) const {
    fail("[tokenizer] ", file.string(), ": ", what,
         "; hint: the file is damaged or not a Hugging Face tokenizer.json");
  }
  const json& get(const json& j, const char* key, const char* where) const {
    if (!j.is_object() || !j.contains(key)) bad(std::string(where) + " has no \"" + key + "\"");
    return j[key];
  }
  std::string str(const json& j, const char* key, const char* where) const {
    const json& v = get(j, key, where);
    if (!v.is_string()) bad(std::string(where) + "." + key + " must be a string");
    return v.get<std::string>();
  }
  bool boolean(const json& j, const char* key, bool fallback) const {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) bad(std::string(key) + " must be true or false");
    return j[key].get<bool>();
  }
  std::string type(const json& j) const {
    return j.is_object() && j.contains("type") && j["type"].is_string()
               ? j["type"].get<std::string>() : std::string(j.is_null() ? "null" : "?");
  }
};

std::vector<std::string> vocab_by_id(const Ctx& c, const json& v) {
  if (!v.is_object() || v.empty()) c.bad("model.vocab must be a non-empty object token -> id");
  std::vector<std::string> out(v.size());
  std::vector<bool> seen(v.size(), false);
  for (const auto& [tok, id] : v.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= static_cast<int64_t>(v.size()))
      c.bad("model.vocab id of '" + tok + "' is not in [0, vocabulary size)");
    out[id.get<size_t>()] = tok;
    seen[id.get<size_t>()] = true;
  }
  for (size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) c.bad("model.vocab has no token with id " + std::to_string(i));
  return out;
}

std::vector<TemplatePiece> template_of(const Ctx& c, const json& items, const json& specials) {
  std::vector<TemplatePiece> out;
  if (!items.is_array()) c.bad("post_processor template must be an array");
  for (const auto& it : items) {
    if (it.contains("Sequence")) {
      const auto& s = it["Sequence"];
      out.push_back({c.str(s, "id", "Sequence") == "B" ? 1 : 0, 0,
                     s.value("type_id", 0)});
    } else if (it.contains("SpecialToken")) {
      const auto& s = it["SpecialToken"];
      const std::string name = c.str(s, "id", "SpecialToken");
      const json& ids = c.get(c.get(specials, name.c_str(), "special_tokens"), "ids", name.c_str());
      if (!ids.is_array()) c.bad("special_tokens." + name + ".ids must be an array");
      for (const auto& id : ids) out.push_back({-1, id.get<int32_t>(), s.value("type_id", 0)});
    } else {
      c.bad("unknown post_processor template item " + it.dump());
    }
  }
  return out;
}

void read_post_processor(const Ctx& c, const json& pp, SpecialTokens& s) {
  const std::string t = c.type(pp);
  if (t == "null" || t == "ByteLevel") return;  // $A:0 / $A:0 $B:1
  if (t == "TemplateProcessing") {
    const json& specials = c.get(pp, "special_tokens", "post_processor");
    s.single = template_of(c, c.get(pp, "single", "post_processor"), specials);
    s.pair = template_of(c, c.get(pp, "pair", "post_processor"), specials);
    return;
  }
  if (t == "BertProcessing") {
    const json& cls = c.get(pp, "cls", "post_processor");
    const json& sep = c.get(pp, "sep", "post_processor");
    const int32_t cls_id = cls.at(1).get<int32_t>(), sep_id = sep.at(1).get<int32_t>();
    s.single = {{-1, cls_id, 0}, {0, 0, 0}, {-1, sep_id, 0}};
    s.pair = {{-1, cls_id, 0}, {0, 0, 0}, {-1, sep_id, 0}, {1, 0, 1}, {-1, sep_id, 1}};
    return;
  }
  c.bad("post_processor type " + t + " is not supported (TemplateProcessing, BertProcessing, "
        "ByteLevel)");
}

}  // namespace

std::unique_ptr<Tokenizer> from_tokenizer_json(const fs::path& file, const FolderConfig& cfg,
                                               std::string* why) {
  const json j = read_json(file, "tokenizer");
  const Ctx c{file};
  if (!j.is_object()) c.bad("expected a JSON object");
  const json& model = c.get(j, "model", "tokenizer.json");
  const std::string model_type = c.type(model);
  const json norm = j.value("normalizer", json());
  const json pre = j.value("pre_tokenizer", json());
  std::unique_ptr<Tokenizer> tok;
  if (model_type == "WordPiece") {
    if (c.type(pre) != "BertPreTokenizer") {
      *why = "WordPiece with pre_tokenizer " + c.type(pre) + " is not supported";
      return nullptr;
    }
    BertNormalizerOptions opt;  // normalizer null: none of the steps
    opt.clean_text = opt.handle_chinese_chars = opt.lowercase = false;
    if (c.type(norm) == "BertNormalizer") {
      opt.clean_text = c.boolean(norm, "clean_text", true);
      opt.handle_chinese_chars = c.boolean(norm, "handle_chinese_chars", true);
      opt.lowercase = c.boolean(norm, "lowercase", true);
      if (norm.contains("strip_accents") && !norm["strip_accents"].is_null())
        opt.strip_accents = c.boolean(norm, "strip_accents", false);
    } else if (!norm.is_null()) {
      *why = "WordPiece with normalizer " + c.type(norm) + " is not supported";
      return nullptr;
    }
    const json& mc = model.value("max_input_chars_per_word", json(100));
    tok = std::make_unique<WordPieceTokenizer>(
        vocab_by_id(c, c.get(model, "vocab", "model")), opt, c.str(model, "unk_token", "model"),
        model.contains("continuing_subword_prefix") && model["continuing_subword_prefix"].is_string()
            ? model["continuing_subword_prefix"].get<std::string>() : std::string("##"),
        mc.is_number_unsigned() ? mc.get<size_t>() : 100);
  } else if (model_type == "BPE") {
    const bool fancy = model.value("byte_fallback", false) ||
                       (model.contains("continuing_subword_prefix") &&
                        model["continuing_subword_prefix"].is_string() &&
                        !model["continuing_subword_prefix"].get<std::string>().empty());
    if (c.type(pre) != "ByteLevel" || !norm.is_null() || fancy) {
      *why = "BPE is supported with the ByteLevel pre-tokenizer and no normalizer (GPT-2 style); "
             "this one has pre_tokenizer " + c.type(pre) + ", normalizer " + c.type(norm);
      return nullptr;
    }
    std::unordered_map<std::string, int32_t> vocab;
    for (const auto& [t, id] : c.get(model, "vocab", "model").items()) {
      if (!id.is_number_integer()) c.bad("model.vocab id of '" + t + "' is not an integer");
      vocab.emplace(t, id.get<int32_t>());
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const auto& m : c.get(model, "merges", "model")) {
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos) c.bad("model.merges entry '" + s + "' is not 'a b'");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        c.bad("model.merges entry " + m.dump() + " is not 'a b' or [a, b]");
      }
    }
    tok = std::make_unique<ByteLevelBpeTokenizer>(std::move(vocab), std::move(merges),
                                                  c.boolean(pre, "add_prefix_space", false));
  } else {
    *why = "model type " + model_type + " is not supported from tokenizer.json (WordPiece, BPE "
           "with ByteLevel; SentencePiece models load from tokenizer.model)";
    return nullptr;
  }

  SpecialTokens& s = tok->special();
  for (const auto& a : j.value("added_tokens", json::array())) {
    AddedToken t;
    t.content = c.str(a, "content", "added_tokens[]");
    t.id = c.get(a, "id", "added_tokens[]").get<int32_t>();
    t.special = c.boolean(a, "special", false);
    t.lstrip = c.boolean(a, "lstrip", false);
    t.rstrip = c.boolean(a, "rstrip", false);
    t.single_word = c.boolean(a, "single_word", false);
    s.added.push_back(std::move(t));
  }
  read_post_processor(c, j.value("post_processor", json()), s);
  const bool gpt = model_type == "BPE";
  const std::string eos = cfg.token("eos_token", gpt ? "<|endoftext|>" : "");
  s.eos_id = eos.empty() ? std::nullopt : tok->token_to_id(eos);
  s.unk_id = tok->token_to_id(cfg.token("unk_token", gpt ? "<|endoftext|>" : "[UNK]"));
  std::string pad = cfg.token("pad_token", "");
  const json padding = j.value("padding", json());
  if (pad.empty() && padding.is_object() && padding.contains("pad_token"))
    pad = padding["pad_token"].get<std::string>();
  if (pad.empty()) pad = gpt ? eos : "[PAD]";  // GPT-2: pad = eos, as transformers users do
  if (const auto p = tok->token_to_id(pad)) s.pad_id = *p, s.pad_token = pad;
  return tok;
}

}  // namespace spt::tokenize::detail
