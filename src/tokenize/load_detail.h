// Internal pieces of load_tokenizer(): the settings read from a model folder's JSON
// files and the builders of each tokenizer family.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "spt/tokenize/tokenizer.h"

namespace spt::tokenize::detail {

// tokenizer_config.json, special_tokens_map.json and config.json of a folder (each
// may be absent: null).
struct FolderConfig {
  nlohmann::json tokenizer_config;
  nlohmann::json special_tokens_map;
  std::string model_type;  // config.json "model_type", "" when unknown

  // A special token's text ("cls_token", ...): tokenizer_config, then
  // special_tokens_map (plain strings or {"content": ...}), else `fallback`.
  std::string token(const char* key, const std::string& fallback) const;
  std::optional<bool> flag(const char* key) const;  // a bool in tokenizer_config
};

FolderConfig read_folder_config(const std::filesystem::path& folder);

std::unique_ptr<Tokenizer> wordpiece_from_vocab(const std::filesystem::path& vocab_txt,
                                                const FolderConfig& cfg);
std::unique_ptr<Tokenizer> bpe_from_files(const std::filesystem::path& vocab_json,
                                          const std::filesystem::path& merges_txt,
                                          const FolderConfig& cfg);
std::unique_ptr<Tokenizer> sentencepiece_from_model(const std::filesystem::path& model,
                                                    const FolderConfig& cfg);
// nullptr when the file describes a model spt cannot run (the caller may fall back).
std::unique_ptr<Tokenizer> from_tokenizer_json(const std::filesystem::path& file,
                                               const FolderConfig& cfg, std::string* why);

}  // namespace spt::tokenize::detail
