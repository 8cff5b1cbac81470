// Bad-row policy and log (see spt/data/bad_rows.h).
#include "spt/data/bad_rows.h"

#include "spt/core/error.h"

namespace spt::data {

void BadRows::add(std::string reason) {
  ++count;
  if (reasons.size() < kKeepReasons) reasons.push_back(std::move(reason));
}

void BadRows::merge(const BadRows& other) {
  count += other.count;
  for (const auto& r : other.reasons)
    if (reasons.size() < kKeepReasons) reasons.push_back(r);
}

std::string BadRows::summary() const {
  if (count == 0) return "";
  std::string s = str_cat("skipped ", count, count == 1 ? " bad row" : " bad rows", " (first: ");
  for (size_t i = 0; i < reasons.size(); ++i) s += (i ? "; " : "") + reasons[i];
  return s + (count > reasons.size() ? "; ...)" : ")");
}

void RowPolicy::bad_row(const std::string& file, size_t line, const std::string& what,
                        std::string_view hint) const {
  std::string where = str_cat(file, ":", line, ": ", what);
  if (!skip_) fail("[data] ", where, "; hint: ", hint);
  log_.add(std::move(where));
}

}  // namespace spt::data
