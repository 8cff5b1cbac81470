// load_tokenizer(): picks the tokenizer of a model folder or file the way transformers
// does (tokenizer.json first), and builds WordPiece / byte-level BPE / SentencePiece
// tokenizers from their own files with the special tokens each family adds.
#include "spt/core/error.h"
#include "spt/tokenize/bpe.h"
#include "spt/tokenize/sentencepiece.h"
#include "spt/tokenize/wordpiece.h"
#include "src/tokenize/json_file.h"
#include "src/tokenize/load_detail.h"

namespace spt::tokenize {

namespace fs = std::filesystem;

namespace detail {

namespace {

void add_special(SpecialTokens& s, const Tokenizer& tok, const std::string& content) {
  const auto id = tok.token_to_id(content);
  if (!id) return;
  for (const auto& a : s.added)
    if (a.content == content) return;
  s.added.push_back({content, *id, true});
}

}  // namespace

std::string FolderConfig::token(const char* key, const std::string& fallback) const {
  for (const auto* j : {&tokenizer_config, &special_tokens_map}) {
    if (!j->is_object() || !j->contains(key)) continue;
    const auto& v = (*j)[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string())
      return v["content"].get<std::string>();
  }
  return fallback;
}

std::optional<bool> FolderConfig::flag(const char* key) const {
  if (tokenizer_config.is_object() && tokenizer_config.contains(key) &&
      tokenizer_config[key].is_boolean())
    return tokenizer_config[key].get<bool>();
  return std::nullopt;
}

FolderConfig read_folder_config(const fs::path& folder) {
  FolderConfig cfg;
  if (fs::exists(folder / "tokenizer_config.json"))
    cfg.tokenizer_config = read_json(folder / "tokenizer_config.json", "tokenizer");
  if (fs::exists(folder / "special_tokens_map.json"))
    cfg.special_tokens_map = read_json(folder / "special_tokens_map.json", "tokenizer");
  if (fs::exists(folder / "config.json")) {
    const auto c = read_json(folder / "config.json", "tokenizer");
    if (c.is_object() && c.contains("model_type") && c["model_type"].is_string())
      cfg.model_type = c["model_type"].get<std::string>();
  }
  return cfg;
}

std::unique_ptr<Tokenizer> wordpiece_from_vocab(const fs::path& vocab_txt, const FolderConfig& cfg) {
  BertNormalizerOptions norm;
  norm.lowercase = cfg.flag("do_lower_case").value_or(true);
  norm.strip_accents = cfg.flag("strip_accents");
  norm.handle_chinese_chars = cfg.flag("tokenize_chinese_chars").value_or(true);
  const std::string unk = cfg.token("unk_token", "[UNK]");
  auto tok = std::make_unique<WordPieceTokenizer>(read_wordpiece_vocab(vocab_txt), norm, unk);
  SpecialTokens& s = tok->special();
  const std::string cls = cfg.token("cls_token", "[CLS]"), sep = cfg.token("sep_token", "[SEP]");
  const std::string pad = cfg.token("pad_token", "[PAD]"), mask = cfg.token("mask_token", "[MASK]");
  for (const auto& t : {pad, unk, cls, sep, mask}) add_special(s, *tok, t);
  const auto cls_id = tok->token_to_id(cls), sep_id = tok->token_to_id(sep);
  SPT_CHECK(cls_id && sep_id, "[wordpiece] ", vocab_txt.string(), " lacks '", cls, "' or '", sep,
            "'; hint: a BERT vocabulary must contain its [CLS] and [SEP] tokens");
  s.single = {{-1, *cls_id, 0}, {0, 0, 0}, {-1, *sep_id, 0}};
  s.pair = {{-1, *cls_id, 0}, {0, 0, 0}, {-1, *sep_id, 0}, {1, 0, 1}, {-1, *sep_id, 1}};
  s.unk_id = tok->token_to_id(unk);
  if (const auto p = tok->token_to_id(pad)) s.pad_id = *p, s.pad_token = pad;
  return tok;
}

std::unique_ptr<Tokenizer> bpe_from_files(const fs::path& vocab_json, const fs::path& merges_txt,
                                          const FolderConfig& cfg) {
  auto tok = std::make_unique<ByteLevelBpeTokenizer>(
      read_bpe_vocab(vocab_json), read_bpe_merges(merges_txt),
      cfg.flag("add_prefix_space").value_or(false));
  SpecialTokens& s = tok->special();
  const std::string eos = cfg.token("eos_token", "<|endoftext|>");
  for (const char* key : {"unk_token", "bos_token", "eos_token", "pad_token"})
    add_special(s, *tok, cfg.token(key, "<|endoftext|>"));
  s.eos_id = tok->token_to_id(eos);
  s.bos_id = tok->token_to_id(cfg.token("bos_token", "<|endoftext|>"));
  // GPT-2 has no pad token; transformers users set pad = eos, and so does spt.
  const std::string pad = cfg.token("pad_token", eos);
  if (const auto p = tok->token_to_id(pad)) s.pad_id = *p, s.pad_token = pad;
  return tok;
}

std::unique_ptr<Tokenizer> sentencepiece_from_model(const fs::path& model, const FolderConfig& cfg) {
  const bool t5 = cfg.model_type == "t5" || cfg.model_type == "mt5";
  // LLaMA defaults (add_bos_token true, add_eos_token false); T5 appends </s> only.
  const bool add_bos = cfg.flag("add_bos_token").value_or(!t5);
  const bool add_eos = cfg.flag("add_eos_token").value_or(t5);
  auto tok = std::make_unique<SentencePieceTokenizer>(model, add_bos, add_eos);
  SpecialTokens& s = tok->special();
  if (cfg.model_type == "albert") {  // [CLS] A [SEP] (B [SEP])
    const auto cls = tok->token_to_id(cfg.token("cls_token", "[CLS]"));
    const auto sep = tok->token_to_id(cfg.token("sep_token", "[SEP]"));
    SPT_CHECK(cls && sep, "[sentencepiece] ", model.string(), " lacks [CLS] or [SEP] for ALBERT");
    s.single = {{-1, *cls, 0}, {0, 0, 0}, {-1, *sep, 0}};
    s.pair = {{-1, *cls, 0}, {0, 0, 0}, {-1, *sep, 0}, {1, 0, 1}, {-1, *sep, 1}};
  }
  if (t5 || cfg.model_type == "albert") s.default_padding_left = false;
  const std::string pad = cfg.token("pad_token", "");
  if (!pad.empty())
    if (const auto p = tok->token_to_id(pad)) s.pad_id = *p, s.pad_token = pad;
  return tok;
}

}  // namespace detail

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& path) {
  using namespace detail;
  SPT_CHECK(fs::exists(path), "[tokenizer] ", path.string(), " does not exist; hint: pass a model "
            "folder or a tokenizer.json / vocab.txt / vocab.json / tokenizer.model file");
  const bool is_dir = fs::is_directory(path);
  const fs::path folder = is_dir ? path : path.parent_path();
  const FolderConfig cfg = read_folder_config(folder.empty() ? fs::path(".") : folder);
  const auto in_folder = [&](const char* name) { return folder / name; };

  if (!is_dir) {
    const std::string name = path.filename().string();
    const std::string ext = path.extension().string();
    if (ext == ".model") return sentencepiece_from_model(path, cfg);
    if (ext == ".txt" && name != "merges.txt") return wordpiece_from_vocab(path, cfg);
    if (name == "vocab.json" || name == "merges.txt") {
      const fs::path v = in_folder("vocab.json"), m = in_folder("merges.txt");
      SPT_CHECK(fs::exists(v) && fs::exists(m), "[tokenizer] ", path.string(), " needs both "
                "vocab.json and merges.txt in ", folder.string(), "; hint: copy the missing file");
      return bpe_from_files(v, m, cfg);
    }
    if (ext == ".json") {
      std::string why;
      if (auto t = from_tokenizer_json(path, cfg, &why)) return t;
      fail("[tokenizer] ", path.string(), ": ", why);
    }
    fail("[tokenizer] ", path.string(), ": unknown tokenizer file; hint: pass tokenizer.json, "
         "vocab.txt, vocab.json (+ merges.txt) or a SentencePiece .model");
  }

  std::string why;
  if (fs::exists(in_folder("tokenizer.json")))
    if (auto t = from_tokenizer_json(in_folder("tokenizer.json"), cfg, &why)) return t;
  if (fs::exists(in_folder("tokenizer.model")))
    return sentencepiece_from_model(in_folder("tokenizer.model"), cfg);
  if (fs::exists(in_folder("vocab.json")) && fs::exists(in_folder("merges.txt")))
    return bpe_from_files(in_folder("vocab.json"), in_folder("merges.txt"), cfg);
  if (fs::exists(in_folder("vocab.txt"))) return wordpiece_from_vocab(in_folder("vocab.txt"), cfg);
  if (!why.empty()) fail("[tokenizer] ", (folder / "tokenizer.json").string(), ": ", why);
  fail("[tokenizer] no tokenizer files in ", path.string(), " (looked for tokenizer.json, "
       "tokenizer.model, vocab.json + merges.txt, vocab.txt); hint: download the tokenizer "
       "files of the checkpoint into this folder");
}

}  // namespace spt::tokenize
