// Malformed input rows (wrong column count, unknown label, empty text, invalid UTF-8,
// unparsable number, bad JSON line, ...): by default an spt::Error naming file:line,
//   "[data] data/glue/RTE/train.tsv:17: expected 4 tab-separated columns, got 3;
//    hint: fix or delete the row, or set data.skip_bad_rows = true to skip such rows"
// and with skip_bad_rows a count plus the first few reasons, for the log.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace spt::data {

// What was skipped: how many rows, and why for the first kKeepReasons of them.
struct BadRows {
  static constexpr size_t kKeepReasons = 5;
  size_t count = 0;
  std::vector<std::string> reasons;  // "file:line: what"

  void add(std::string reason);
  void merge(const BadRows& other);
  // "" when nothing was skipped, else "skipped 3 bad rows (first: a.tsv:4: ...; ...)".
  std::string summary() const;
};

// The hint for a row a user can fix by editing the file.
inline constexpr std::string_view kBadRowHint =
    "fix or delete the row, or set data.skip_bad_rows = true to skip such rows";

// Decides what a bad row does: throw, or count it in `log` and carry on.
class RowPolicy {
 public:
  RowPolicy(bool skip, BadRows& log) : skip_(skip), log_(log) {}

  bool skipping() const { return skip_; }

  // Throws "[data] <file>:<line>: <what>; hint: <hint>" unless skipping; then records it.
  void bad_row(const std::string& file, size_t line, const std::string& what,
               std::string_view hint = kBadRowHint) const;

 private:
  bool skip_;
  BadRows& log_;
};

}  // namespace spt::data
