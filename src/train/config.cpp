// Config validation against the schema, overrides and typed access.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "spt/core/error.h"
#include "spt/io/json_util.h"
#include "spt/train/config.h"

namespace spt::train {

namespace fs = std::filesystem;

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

const KeySpec* find_key(const std::string& path) {
  for (const KeySpec& k : config_schema())
    if (k.path == path) return &k;
  return nullptr;
}

bool is_section(const std::string& name) {
  for (const KeySpec& k : config_schema())
    if (k.path.compare(0, name.size() + 1, name + ".") == 0) return true;
  return false;
}

std::string suggestion(const std::string& path) {
  std::string best;
  size_t best_d = 1000;
  for (const KeySpec& k : config_schema()) {
    // Compare the whole path and the last component alone (a key in the wrong section).
    const std::string leaf = k.path.substr(k.path.find('.') + 1);
    const std::string user_leaf = path.substr(path.find('.') == std::string::npos ? 0 : path.find('.') + 1);
    const size_t d = std::min(edit_distance(path, k.path), edit_distance(user_leaf, leaf) + 1);
    if (d < best_d) {
      best_d = d;
      best = k.path;
    }
  }
  if (best_d <= std::max<size_t>(3, path.size() / 3)) return "; did you mean \"" + best + "\"?";
  return "; hint: see docs/config.md for the valid keys";
}

[[noreturn]] void unknown_key(const std::string& source, const std::string& path) {
  fail("[config] ", source, ": unknown key \"", path, "\"", suggestion(path));
}

// Collects dotted paths of leaf values.
void flatten(const Json& j, const std::string& prefix, const std::string& source,
             std::map<std::string, Json>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) {
      if (!is_section(path)) unknown_key(source, path);  // sections nest: attention.pq
      flatten(*it, path, source, out);
    } else {
      if (!find_key(path)) {
        if (is_section(path))
          fail("[config] ", source, ": \"", path, "\" must be an object of keys, got ",
               io::json_kind(*it), "; hint: e.g. \"", path, "\": {...}");
        unknown_key(source, path);
      }
      out[path] = *it;
    }
  }
}

std::string range_str(const KeySpec& k) {
  return str_cat("[", k.min, ", ", k.max, "]");
}

// Checks one value; returns it normalised (paths absolute).
Json check_value(const KeySpec& k, const Json& v, const std::string& source, const std::string& dir) {
  const std::string where = str_cat("[config] ", source, ": key \"", k.path, "\"");
  if (v.is_null()) {
    SPT_CHECK(!k.required, where, " is required; hint: ", k.help);
    return v;
  }
  switch (k.type) {
    case KeyType::string:
    case KeyType::path: {
      SPT_CHECK(v.is_string(), where, " must be a ", key_type_name(k.type), ", got ", io::json_kind(v), " ", v.dump());
      const std::string s = v.get<std::string>();
      if (!k.choices.empty()) {
        bool ok = std::find(k.choices.begin(), k.choices.end(), s) != k.choices.end();
        if (!ok) {
          std::string all;
          for (const std::string& c : k.choices) all += (all.empty() ? "" : ", ") + c;
          fail(where, " must be one of ", all, ", got \"", s, "\"");
        }
      }
      if (k.type == KeyType::path && !s.empty()) {
        fs::path p(s);
        if (p.is_relative()) p = fs::path(dir) / p;
        return p.lexically_normal().string();
      }
      return v;
    }
    case KeyType::integer: {
      // (A float is an integer when it has no fraction; the range test comes first:
      // casting 1e300 to int64 would be undefined.)
      SPT_CHECK(v.is_number_integer() || (v.is_number_float() && std::abs(v.get<double>()) < 9.0e18 &&
                                          v.get<double>() == std::trunc(v.get<double>())),
                where, " must be an integer, got ", io::json_kind(v), " ", v.dump());
      const double d = v.get<double>();
      SPT_CHECK(d >= k.min && d <= k.max, where, " = ", v.dump(), " is out of range ", range_str(k));
      return Json(static_cast<int64_t>(d));
    }
    case KeyType::number: {
      SPT_CHECK(v.is_number(), where, " must be a number, got ", io::json_kind(v), " ", v.dump());
      const double d = v.get<double>();
      SPT_CHECK(d >= k.min && d <= k.max, where, " = ", v.dump(), " is out of range ", range_str(k));
      return Json(d);
    }
    case KeyType::boolean:
      SPT_CHECK(v.is_boolean(), where, " must be true or false, got ", io::json_kind(v), " ", v.dump());
      return v;
    case KeyType::string_list:
      SPT_CHECK(v.is_array(), where, " must be a list of strings, got ", io::json_kind(v), " ", v.dump());
      for (const Json& e : v)
        SPT_CHECK(e.is_string(), where, " must be a list of strings; element ", e.dump(), " is ", io::json_kind(e));
      return v;
  }
  return v;
}

void set_path(Json& root, const std::string& path, Json v) {
  Json* cur = &root;
  size_t start = 0;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    cur = &(*cur)[path.substr(start, dot - start)];
    start = dot + 1;
  }
  (*cur)[path.substr(start)] = std::move(v);
}

const Json& get_path(const Json& root, const std::string& path) {
  SPT_CHECK(find_key(path), "[config] internal: no key \"", path, "\" in the schema");
  const Json* cur = &root;
  size_t start = 0;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    cur = &cur->at(path.substr(start, dot - start));
    start = dot + 1;
  }
  return cur->at(path.substr(start));
}

}  // namespace

void apply_override(Json& j, const std::string& assignment, const std::string& source) {
  const size_t eq = assignment.find('=');
  SPT_CHECK(eq != std::string::npos && eq > 0, "[config] --set \"", assignment,
            "\" is not key=value; hint: e.g. --set train.learning_rate=3e-5");
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  SPT_CHECK(io::is_valid_utf8(assignment), "[config] --set ", io::is_valid_utf8(path) ? path : "(a key)",
            "=...: the text is not valid UTF-8; hint: check the shell's encoding (configs are UTF-8)");
  const KeySpec* k = find_key(path);
  if (!k) unknown_key("--set", path);
  SPT_CHECK(io::json_depth_problem(text).empty(), "[config] --set ", path, ": the value ",
            io::json_depth_problem(text));
  Json v = Json::parse(text, nullptr, false);
  if (v.is_discarded()) v = text;  // a bare string
  (void)source;
  // A path typed on the command line means what the shell means: relative to the
  // current directory (paths inside the config resolve against its folder).
  if (k->type == KeyType::path && v.is_string() && !v.get<std::string>().empty() &&
      fs::path(v.get<std::string>()).is_relative())
    v = fs::absolute(v.get<std::string>()).lexically_normal().string();
  set_path(j, path, std::move(v));
}

ResolvedConfig resolve_config(const Json& j, const std::string& source) {
  SPT_CHECK(j.is_object(), "[config] ", source, ": the config must be a JSON object, got ", io::json_kind(j));
  ResolvedConfig rc;
  rc.source = source;
  rc.dir = fs::absolute(fs::path(source)).parent_path().string();
  std::map<std::string, Json> given;
  flatten(j, "", source, given);
  if (auto it = given.find("spt"); it != given.end() && it->second.is_boolean() && it->second.get<bool>())
    for (const auto& [path, value] : spt_preset()) given.emplace(path, value);  // the config's own keys win
  rc.values = Json::object();
  for (const KeySpec& k : config_schema()) {
    auto it = given.find(k.path);
    const Json v = it != given.end() ? it->second : k.default_value;
    set_path(rc.values, k.path, check_value(k, v, source, rc.dir));
  }
  return rc;
}

ResolvedConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  SPT_CHECK(fs::exists(path), "[config] ", path, ": no such file; hint: pass --config with the path of a JSON config (see configs/)");
  Json j = io::read_json_file(path, "config");
  for (const std::string& o : overrides) apply_override(j, o, path);
  return resolve_config(j, path);
}

std::string ResolvedConfig::str(const std::string& path) const {
  const Json& v = get_path(values, path);
  return v.is_null() ? std::string() : v.get<std::string>();
}
int64_t ResolvedConfig::integer(const std::string& path) const { return get_path(values, path).get<int64_t>(); }
double ResolvedConfig::number(const std::string& path) const { return get_path(values, path).get<double>(); }
bool ResolvedConfig::boolean(const std::string& path) const { return get_path(values, path).get<bool>(); }
std::vector<std::string> ResolvedConfig::strings(const std::string& path) const {
  return get_path(values, path).get<std::vector<std::string>>();
}
bool ResolvedConfig::is_set(const std::string& path) const { return !get_path(values, path).is_null(); }

}  // namespace spt::train
