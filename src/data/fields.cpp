// Label lookup, number parsing and blank checks for the readers (see fields.h).
#include "src/data/fields.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace spt::data::detail {

LabelIndex::LabelIndex(const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    ids_.emplace(values[i], static_cast<int32_t>(i));
    expected_ += (i ? ", " : "") + values[i];
  }
}

std::optional<int32_t> LabelIndex::find(std::string_view value) const {
  const auto it = ids_.find(std::string(value));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<long long> parse_integer(std::string_view s) {
  s = trim(s);
  long long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<float> parse_float(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return static_cast<float>(v);
}

bool is_blank(std::string_view s) { return trim(s).empty(); }

std::string name_list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", \"" : "\"") + names[i] + "\"";
  return s;
}

std::vector<std::string> sorted_labels(std::vector<std::string> labels) {
  std::set<std::string> distinct(labels.begin(), labels.end());
  labels.assign(distinct.begin(), distinct.end());
  const bool numeric = std::all_of(labels.begin(), labels.end(),
                                   [](const std::string& l) { return parse_integer(l).has_value(); });
  if (numeric)
    std::stable_sort(labels.begin(), labels.end(), [](const std::string& a, const std::string& b) {
      return *parse_integer(a) < *parse_integer(b);
    });
  return labels;
}

}  // namespace spt::data::detail
