// A read-only memory mapping of a whole file (RAII).
//
// Checkpoints are read in place: tensors are converted straight out of the
// mapping, so opening a 400 MB file costs no copy until a tensor is loaded.
#pragma once

#include <cstddef>
#include <string>

namespace spt::io {

class MappedFile {
 public:
  // Throws "[component] cannot open PATH: reason" on failure. An empty file maps
  // to size() == 0 and data() == nullptr.
  MappedFile(const std::string& path, const std::string& component);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace spt::io
