// Strict JSON reading for checkpoint files (config.json, safetensors headers,
// shard indexes).
//
// nlohmann::json accepts duplicate object keys silently (the last one wins);
// every file spt reads is parsed here instead, which rejects duplicates and
// reports syntax errors with line and column. The typed getters name the key
// and the file in their errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace spt::io {

using Json = nlohmann::json;

// Parses `text`; `what` names the source in errors ("[config] /x/config.json").
// Throws spt::Error on a syntax error ("line L, column C: ..."), a duplicate
// key (naming it and its object path) or invalid UTF-8.
Json parse_json_strict(std::string_view text, const std::string& what);

// Objects and arrays nest at most this deep in any JSON spt reads (real files:
// under 10). Deeper nesting is refused before parsing: it cannot come from a
// real config or tokenizer and would make printing the value recurse that deep.
constexpr int kMaxJsonDepth = 100;

// "" when `text` nests objects / arrays at most kMaxJsonDepth deep, else the
// problem with its line and column (strings and escapes are skipped; the text
// need not be valid JSON).
std::string json_depth_problem(std::string_view text);

// Reads and parses a whole file (errors name the file).
Json read_json_file(const std::string& path, const std::string& component);

// Line and column (1-based) of byte offset `pos` in `text`.
std::pair<int64_t, int64_t> line_column(std::string_view text, size_t pos);

// True when `s` is well-formed UTF-8; `bad_at` receives the first bad byte offset.
bool is_valid_utf8(std::string_view s, size_t* bad_at = nullptr);

// "object", "array", "string", "integer", "number", "boolean", "null".
const char* json_kind(const Json& j);

// Typed access to an object member. `ctx` is prefixed to errors, e.g.
// "[config] /m/config.json". get_* return nullopt when the key is absent or
// null, and throw when it has the wrong type.
std::optional<int64_t> get_int(const Json& obj, const char* key, const std::string& ctx);
std::optional<double> get_number(const Json& obj, const char* key, const std::string& ctx);
std::optional<bool> get_bool(const Json& obj, const char* key, const std::string& ctx);
std::optional<std::string> get_string(const Json& obj, const char* key, const std::string& ctx);

// Writes `j` to `path` atomically, pretty-printed with 2-space indent.
void write_json_file(const std::string& path, const nlohmann::ordered_json& j);

}  // namespace spt::io
