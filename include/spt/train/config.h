// The fine-tuning config: one schema declares every key once (type, default,
// range, help); validation, `--set` overrides, typo suggestions, the resolved
// print-out of --dry-run and docs/config.md all come from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace spt::train {

using Json = nlohmann::json;

enum class KeyType { string, integer, number, boolean, path, string_list };
const char* key_type_name(KeyType t);

struct KeySpec {
  std::string path;                  // dotted, e.g. "train.learning_rate"
  KeyType type = KeyType::string;
  Json default_value;                // null: no default (unset unless required)
  bool required = false;
  double min = -1e300, max = 1e300;  // inclusive range for numbers
  std::vector<std::string> choices;  // allowed strings (empty: any)
  std::string help;
};

// Every key of the config, in documentation order.
const std::vector<KeySpec>& config_schema();

// SPT mode ("spt": true): the keys it sets, with their values, where the config
// leaves them unset.
const std::vector<std::pair<std::string, Json>>& spt_preset();

// docs/config.md, generated from the schema.
std::string config_reference_markdown();

// The validated config: every schema key present (defaults filled), paths
// absolute (relative ones resolve against the config file's folder).
struct ResolvedConfig {
  Json values;          // nested object
  std::string source;   // the config file
  std::string dir;      // its folder

  // Typed access by dotted path (throws for keys outside the schema).
  std::string str(const std::string& path) const;
  int64_t integer(const std::string& path) const;
  double number(const std::string& path) const;
  bool boolean(const std::string& path) const;
  std::vector<std::string> strings(const std::string& path) const;
  bool is_set(const std::string& path) const;  // not null
};

// Applies "a.b=value" (value parsed as JSON when it is valid JSON, else taken
// as a string) to `j`. Unknown keys get the same suggestion as in the file.
void apply_override(Json& j, const std::string& assignment, const std::string& source);

// Validates `j` against the schema. Errors name the file and the key, e.g.
//   [config] run.json: unknown key "train.learnig_rate"; did you mean "train.learning_rate"?
ResolvedConfig resolve_config(const Json& j, const std::string& source);

// Reads a JSON config file, applies overrides in order, resolves it.
ResolvedConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Levenshtein distance (for suggestions).
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace spt::train
