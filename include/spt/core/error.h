// spt::Error and the checks every layer uses to reject bad input.
//
// Messages start with the op, file or component in brackets, e.g.
//   "[layernorm] x must have shape (N, C) with C = 768, got f32[8,128,80] cpu"
// and, for anything a user can cause, end with "hint: ..." saying how to fix it.
// Only main() catches; library code never calls exit().
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace spt {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Concatenates its arguments with operator<< (keeps this header free of fmt so
// that nvcc-compiled files can include it).
template <class... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str_cat(std::forward<Args>(args)...));
}

}  // namespace spt

// Throws spt::Error with the streamed message when `cond` is false.
#define SPT_CHECK(cond, ...)                 \
  do {                                       \
    if (!(cond)) ::spt::fail(__VA_ARGS__);   \
  } while (0)
