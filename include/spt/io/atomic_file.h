// Crash-safe file writing.
//
// AtomicFile writes into a temporary file beside the target
// ("<name>.tmp-<pid>" in the same directory, so the rename stays on one file
// system), and commit() fsyncs it, renames it over the target and fsyncs the
// directory: readers see the old file or the complete new one, never a torn
// one. A file that is never committed is removed by the destructor.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spt::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t nbytes);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes a whole file atomically.
void write_file_atomic(const std::string& path, std::string_view content);

// fsync of a file or directory by path (directories make renames durable).
void fsync_path(const std::string& path);

// Reads a whole file; throws "[component] cannot read PATH: reason".
std::string read_file(const std::string& path, const std::string& component);

}  // namespace spt::io
