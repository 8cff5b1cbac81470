// Crash-safe publishing of a whole folder (checkpoints, exports).
//
// Files are written into "<target>.tmp-<pid>"; commit() fsyncs that folder and
// renames it into place. An existing target is first renamed aside to
// "<target>.old-<pid>" and removed only after the new folder is in place, so
// at every instant either the old or the new folder is complete (the brief
// window between the two renames leaves the old one under its .old name). A
// folder that is never committed is removed by the destructor.
#pragma once

#include <functional>
#include <string>

namespace spt::io {

class AtomicDir {
 public:
  // `may_replace(target)` decides whether an existing target may be replaced
  // (an error naming `component` otherwise); empty targets are always replaced.
  AtomicDir(std::string target, std::string component,
            std::function<bool(const std::string&)> may_replace);
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;

  const std::string& path() const { return tmp_; }  // write files here
  void commit();

 private:
  std::string target_, component_, tmp_;
  std::function<bool(const std::string&)> may_replace_;
  bool committed_ = false;
};

}  // namespace spt::io
