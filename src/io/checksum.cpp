// CRC-32C (see checksum.h). The hardware path folds 8 bytes per crc32
// instruction; the table path one byte per look-up. Both compute the reflected
// CRC with initial value ~0 and final xor ~0, so `crc` chains across calls.
#include "spt/io/checksum.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "spt/core/error.h"

namespace spt::io {

namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

const std::array<uint32_t, 256>& table() {
  static const std::array<uint32_t, 256> t = [] {
    std::array<uint32_t, 256> out{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      out[i] = c;
    }
    return out;
  }();
  return t;
}

uint32_t crc_table(uint32_t c, const unsigned char* p, size_t n) {
  const auto& t = table();
  for (size_t i = 0; i < n; ++i) c = t[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc_sse42(uint32_t c, const unsigned char* p, size_t n) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return c32;
}
#endif

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
#if defined(__x86_64__)
  static const bool hw = __builtin_cpu_supports("sse4.2");
  c = hw ? crc_sse42(c, p, n) : crc_table(c, p, n);
#else
  c = crc_table(c, p, n);
#endif
  return ~c;
}

uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n) {
  return ~crc_table(~crc, static_cast<const unsigned char*>(data), n);
}

uint32_t file_crc32c(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SPT_CHECK(fd >= 0, "[checksum] cannot open ", path, ": ", std::strerror(errno));
  std::vector<unsigned char> buf(size_t{4} << 20);
  uint32_t crc = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      fail("[checksum] cannot read ", path, ": ", err);
    }
    if (n == 0) break;
    crc = crc32c(crc, buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return crc;
}

std::string crc_hex(uint32_t crc) {
  static const char* const kDigits = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, crc >>= 4) s[static_cast<size_t>(i)] = kDigits[crc & 0xF];
  return s;
}

}  // namespace spt::io
