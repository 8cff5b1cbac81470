// MappedFile: open + fstat + mmap(PROT_READ, MAP_PRIVATE).
#include "spt/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "spt/core/error.h"

namespace spt::io {

MappedFile::MappedFile(const std::string& path, const std::string& component) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SPT_CHECK(fd >= 0, "[", component, "] cannot open ", path, ": ", std::strerror(errno),
            "; hint: check the path");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("[", component, "] ", path, " is not a regular file; hint: pass a checkpoint file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    SPT_CHECK(p != MAP_FAILED, "[", component, "] cannot map ", path, ": ", std::strerror(err));
    data_ = static_cast<const unsigned char*>(p);
  } else {
    ::close(fd);
  }
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
}

}  // namespace spt::io
