// Helpers shared by the dataset readers: label lookup, number parsing, blank checks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spt::data::detail {

// Maps label values as written in the file to class ids (their position in `values`).
class LabelIndex {
 public:
  LabelIndex() = default;
  explicit LabelIndex(const std::vector<std::string>& values);
  std::optional<int32_t> find(std::string_view value) const;
  // "entailment, neutral, contradiction"
  const std::string& expected() const { return expected_; }

 private:
  std::unordered_map<std::string, int32_t> ids_;
  std::string expected_;
};

// A finite float, surrounding spaces allowed; nullopt for anything else.
std::optional<float> parse_float(std::string_view s);

// True when `s` is empty or only ASCII whitespace.
bool is_blank(std::string_view s);

// "a, b, c" (each name quoted).
std::string name_list(const std::vector<std::string>& names);

// Sorted distinct labels: numerically when all are integers, else bytewise.
std::vector<std::string> sorted_labels(std::vector<std::string> labels);

}  // namespace spt::data::detail
