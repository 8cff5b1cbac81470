// AtomicFile: temp file + fsync + rename + directory fsync (see atomic_file.h).
#include "spt/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "spt/core/error.h"

namespace spt::io {

namespace fs = std::filesystem;

namespace {

std::string errno_str() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SPT_CHECK(fd_ >= 0, "[io] cannot create ", tmp_, ": ", errno_str(),
            "; hint: check that the directory exists and is writable");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t nbytes) {
  SPT_CHECK(fd_ >= 0 && !committed_, "[io] write to ", path_, " after commit");
  const char* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    const ssize_t n = ::write(fd_, p, nbytes);
    if (n < 0 && errno == EINTR) continue;
    SPT_CHECK(n > 0, "[io] cannot write ", tmp_, ": ", errno_str(),
              "; hint: check the free disk space");
    p += n;
    nbytes -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  SPT_CHECK(fd_ >= 0 && !committed_, "[io] ", path_, " committed twice");
  SPT_CHECK(::fsync(fd_) == 0, "[io] fsync ", tmp_, ": ", errno_str());
  const int rc = ::close(fd_);
  fd_ = -1;
  SPT_CHECK(rc == 0, "[io] close ", tmp_, ": ", errno_str());
  SPT_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, "[io] cannot rename ", tmp_, " to ",
            path_, ": ", errno_str());
  committed_ = true;
  fsync_path(parent_dir(path_));
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SPT_CHECK(fd >= 0, "[io] cannot open ", path, " to fsync: ", errno_str());
  const int rc = ::fsync(fd);
  const int saved = errno;
  const std::string err = errno_str();
  ::close(fd);
  // Some file systems do not support fsync on directories (EINVAL); the data
  // itself has been synced, so only real I/O errors are fatal.
  SPT_CHECK(rc == 0 || saved == EINVAL, "[io] fsync ", path, ": ", err);
}

std::string read_file(const std::string& path, const std::string& component) {
  std::error_code ec;
  SPT_CHECK(fs::is_regular_file(path, ec), "[", component, "] ", path,
            " does not exist or is not a regular file; hint: check the path");
  std::ifstream in(path, std::ios::binary);
  SPT_CHECK(in.good(), "[", component, "] cannot open ", path, ": ", errno_str());
  std::ostringstream ss;
  ss << in.rdbuf();
  SPT_CHECK(!in.bad(), "[", component, "] cannot read ", path);
  return ss.str();
}

}  // namespace spt::io
