// A full disk for one process, for the fault tests (LD_PRELOAD=libspt_enospc_shim.so):
// write() to a file whose path contains $SPT_FAULT_ENOSPC_PATH succeeds for the
// first $SPT_FAULT_ENOSPC_AFTER bytes in all, then fails with ENOSPC ("No space
// left on device"), as on a file system that filled up. Other files, pipes and
// terminals are untouched. Not built into spt: tests only (tests/test_faults.cpp).
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace {

using WriteFn = ssize_t (*)(int, const void*, size_t);

std::atomic<long long> g_written{0};

bool matches(int fd, const char* needle) {
  char link[64], target[4096];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, target, sizeof(target) - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  return strstr(target, needle) != nullptr;
}

}  // namespace

extern "C" ssize_t write(int fd, const void* buf, size_t count) {
  static const WriteFn real = reinterpret_cast<WriteFn>(dlsym(RTLD_NEXT, "write"));
  const char* needle = getenv("SPT_FAULT_ENOSPC_PATH");
  const char* after = getenv("SPT_FAULT_ENOSPC_AFTER");
  if (needle != nullptr && after != nullptr && fd > 2 && matches(fd, needle)) {
    const long long limit = atoll(after);
    const long long before = g_written.load();
    if (before >= limit) {
      errno = ENOSPC;
      return -1;
    }
    // A short write up to the limit, as a filling disk gives; the next call fails.
    const size_t allowed = static_cast<size_t>(limit - before) < count ? static_cast<size_t>(limit - before) : count;
    const ssize_t n = real(fd, buf, allowed);
    if (n > 0) g_written += n;
    return n;
  }
  return real(fd, buf, count);
}
