// Strict JSON parsing: duplicate keys rejected, errors with line and column.
#include "spt/io/json_util.h"

#include <set>
#include <vector>

#include "spt/core/error.h"
#include "spt/io/atomic_file.h"

namespace spt::io {

std::pair<int64_t, int64_t> line_column(std::string_view text, size_t pos) {
  int64_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

bool is_valid_utf8(std::string_view s, size_t* bad_at) {
  size_t i = 0;
  const size_t n = s.size();
  auto bad = [&](size_t at) {
    if (bad_at) *bad_at = at;
    return false;
  };
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return bad(i);
    }
    if (i + len > n) return bad(i);
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return bad(i);
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong encodings, surrogates and values past U+10FFFF are ill-formed.
    const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad(i);
    i += len;
  }
  return true;
}

std::string json_depth_problem(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        const auto [line, col] = line_column(text, i);
        return str_cat("objects and arrays nest more than ", kMaxJsonDepth, " deep (line ", line, ", column ", col,
                       "); hint: the file is damaged or not what it claims to be");
      }
    } else if (c == '}' || c == ']') {
      depth = depth > 0 ? depth - 1 : 0;
    }
  }
  return "";
}

Json parse_json_strict(std::string_view text, const std::string& what) {
  if (const std::string deep = json_depth_problem(text); !deep.empty()) fail(what, ": ", deep);
  size_t bad = 0;
  if (!is_valid_utf8(text, &bad)) {
    const auto [line, col] = line_column(text, bad);
    fail(what, " is not valid UTF-8 (byte ", bad, ", line ", line, ", column ", col,
         "); hint: the file is corrupt or not JSON");
  }
  // One set of keys per open object; a duplicate is remembered (throwing from
  // inside the parser callback is avoided) and reported after parsing.
  std::vector<std::set<std::string>> open;
  std::vector<std::string> path;
  std::string duplicate;
  auto cb = [&](int /*depth*/, Json::parse_event_t ev, Json& parsed) {
    switch (ev) {
      case Json::parse_event_t::object_start:
        open.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open.empty()) open.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open.empty() && parsed.is_string()) {
          const std::string& k = parsed.get_ref<const std::string&>();
          if (!open.back().insert(k).second && duplicate.empty()) duplicate = k;
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json j;
  try {
    j = Json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::parse_error& e) {
    const auto [line, col] = line_column(text, e.byte > 0 ? e.byte - 1 : 0);
    std::string msg = e.what();
    // nlohmann's text is "[json.exception.parse_error.101] parse error at ...: detail".
    if (const size_t p = msg.find(": "); p != std::string::npos) msg = msg.substr(p + 2);
    fail(what, " is not valid JSON: line ", line, ", column ", col, ": ", msg,
         "; hint: fix the syntax error at that position");
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range: a number past double's range (1e405)
    std::string msg = e.what();
    if (const size_t p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    fail(what, " is not valid JSON: ", msg, "; hint: fix that value");
  }
  SPT_CHECK(duplicate.empty(), what, " has the key \"", duplicate,
            "\" twice in one object; hint: remove the duplicate entry (JSON readers disagree on "
            "which one wins)");
  return j;
}

Json read_json_file(const std::string& path, const std::string& component) {
  const std::string text = read_file(path, component);
  return parse_json_strict(text, "[" + component + "] " + path);
}

const char* json_kind(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::null: return "null";
    default: return "binary";
  }
}

namespace {

const Json* member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void wrong_type(const Json& v, const char* key, const std::string& ctx,
                             const char* want) {
  fail(ctx, ": key \"", key, "\" must be ", want, ", got ", json_kind(v), " ", v.dump(),
       "; hint: fix the value of \"", key, "\"");
}

}  // namespace

std::optional<int64_t> get_int(const Json& obj, const char* key, const std::string& ctx) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) wrong_type(*v, key, ctx, "an integer in range");
    return static_cast<int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  wrong_type(*v, key, ctx, "an integer");
}

std::optional<double> get_number(const Json& obj, const char* key, const std::string& ctx) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(*v, key, ctx, "a number");
  return v->get<double>();
}

std::optional<bool> get_bool(const Json& obj, const char* key, const std::string& ctx) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(*v, key, ctx, "true or false");
  return v->get<bool>();
}

std::optional<std::string> get_string(const Json& obj, const char* key, const std::string& ctx) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(*v, key, ctx, "a string");
  return v->get<std::string>();
}

void write_json_file(const std::string& path, const nlohmann::ordered_json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace spt::io
