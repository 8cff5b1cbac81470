// Op-level wall-clock profile, switched on by the environment variable
// SPT_PROFILE=1 (off: one predictable branch per op). Each ops:: entry point
// opens a scope; nested scopes count as their parent's children, so the table
// shows self time. On CUDA the times are host-side (launches), unless
// SPT_PROFILE=sync, which synchronises the device at the end of every scope.
//
//   SPT_PROFILE=1 spt-bench --train-model DIR ...   (prints the table at exit)
#pragma once

#include <cstdint>
#include <string>

namespace spt::prof {

// 0: off, 1: on, 2: on and synchronising the device per scope.
int mode();
inline bool enabled() { return mode() != 0; }

class Scope {
 public:
  explicit Scope(const char* name) : name_(enabled() ? name : nullptr) {
    if (name_) begin();
  }
  ~Scope() {
    if (name_) end();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin();
  void end();
  const char* name_;
};

// The table (op, calls, self ms, share) of everything recorded since the last
// reset, longest first; empty when profiling is off.
std::string table();
void reset();

}  // namespace spt::prof

#define SPT_PROF_CAT2(a, b) a##b
#define SPT_PROF_CAT(a, b) SPT_PROF_CAT2(a, b)
#define SPT_PROFILE_SCOPE(name) const ::spt::prof::Scope SPT_PROF_CAT(spt_prof_scope_, __LINE__)(name)
