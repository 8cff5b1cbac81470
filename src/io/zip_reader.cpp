// Central-directory zip reader (stored entries only), with zip64 support.
// Reference: PKWARE APPNOTE.TXT 6.3 (sections 4.3.7 local header, 4.3.12
// central directory header, 4.3.14-16 zip64 end records, 4.5.3 zip64 extra).
#include "zip_reader.h"

#include <cstring>

#include "spt/core/error.h"

namespace spt::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50,
                   kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;

const char* kHint = "; hint: the file is not a torch.save archive or is truncated";

class Cursor {
 public:
  Cursor(const unsigned char* buf, uint64_t size, const std::string& what)
      : buf_(buf), size_(size), what_(what) {}
  template <class T>
  T at(uint64_t off) const {
    SPT_CHECK(off <= size_ && sizeof(T) <= size_ - off, what_, ": zip structure at byte ", off,
              " runs past the end of the file", kHint);
    T v;
    std::memcpy(&v, buf_ + off, sizeof(T));
    return v;
  }
  uint64_t size() const { return size_; }
  const unsigned char* ptr(uint64_t off) const { return buf_ + off; }

 private:
  const unsigned char* buf_;
  uint64_t size_;
  const std::string& what_;
};

}  // namespace

std::map<std::string, ZipEntry> read_zip_directory(const unsigned char* buf, uint64_t size,
                                                   const std::string& what) {
  const Cursor c(buf, size, what);
  SPT_CHECK(size >= 22, what, " is ", size, " bytes, too small for a zip archive", kHint);
  // The end record is 22 bytes plus a comment of up to 65535 bytes.
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  for (uint64_t p = size - 22 + 1; p-- > lowest;) {
    if (c.at<uint32_t>(p) == kEndSig) {
      eocd = p;
      break;
    }
  }
  SPT_CHECK(eocd != UINT64_MAX, what, ": no zip end-of-central-directory record", kHint);
  uint64_t count = c.at<uint16_t>(eocd + 10);
  uint64_t cd_size = c.at<uint32_t>(eocd + 12);
  uint64_t cd_off = c.at<uint32_t>(eocd + 16);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {
    SPT_CHECK(eocd >= 20 && c.at<uint32_t>(eocd - 20) == kLocator64Sig, what,
              ": zip64 locator missing", kHint);
    const uint64_t rec = c.at<uint64_t>(eocd - 20 + 8);
    SPT_CHECK(c.at<uint32_t>(rec) == kEnd64Sig, what, ": zip64 end record missing", kHint);
    count = c.at<uint64_t>(rec + 32);
    cd_size = c.at<uint64_t>(rec + 40);
    cd_off = c.at<uint64_t>(rec + 48);
  }
  SPT_CHECK(cd_off <= size && cd_size <= size - cd_off, what,
            ": central directory lies outside the file", kHint);
  SPT_CHECK(count <= cd_size / 46, what, ": central directory claims ", count,
            " entries in ", cd_size, " bytes", kHint);

  std::map<std::string, ZipEntry> out;
  uint64_t p = cd_off;
  for (uint64_t i = 0; i < count; ++i) {
    SPT_CHECK(c.at<uint32_t>(p) == kCentralSig, what, ": bad central directory entry ", i, kHint);
    const uint16_t flags = c.at<uint16_t>(p + 8);
    const uint16_t method = c.at<uint16_t>(p + 10);
    uint64_t csize = c.at<uint32_t>(p + 20);
    uint64_t usize = c.at<uint32_t>(p + 24);
    const uint16_t name_len = c.at<uint16_t>(p + 28);
    const uint16_t extra_len = c.at<uint16_t>(p + 30);
    const uint16_t comment_len = c.at<uint16_t>(p + 32);
    uint64_t local = c.at<uint32_t>(p + 42);
    const uint64_t name_at = p + 46;
    SPT_CHECK(name_at + name_len + extra_len + comment_len <= cd_off + cd_size, what,
              ": central directory entry ", i, " overruns the directory", kHint);
    std::string name(reinterpret_cast<const char*>(c.ptr(name_at)), name_len);
    // zip64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
    for (uint64_t e = name_at + name_len; e + 4 <= name_at + name_len + extra_len;) {
      const uint16_t id = c.at<uint16_t>(e), len = c.at<uint16_t>(e + 2);
      if (id == 0x0001) {
        uint64_t q = e + 4;
        const uint64_t end = q + len;
        auto take = [&](uint64_t& field) {
          if (field != 0xFFFFFFFF) return;
          SPT_CHECK(q + 8 <= end, what, ": truncated zip64 field in entry ", name, kHint);
          field = c.at<uint64_t>(q);
          q += 8;
        };
        take(usize);
        take(csize);
        take(local);
      }
      e += 4 + static_cast<uint64_t>(len);
    }
    SPT_CHECK((flags & 1) == 0, what, ": entry ", name, " is encrypted", kHint);
    SPT_CHECK(method == 0 && csize == usize, what, ": entry ", name, " is compressed (method ",
              method, "); hint: spt reads archives written by torch.save, which stores entries "
              "uncompressed; re-save the file with torch.save");
    SPT_CHECK(c.at<uint32_t>(local) == kLocalSig, what, ": entry ", name,
              " has no local header at byte ", local, kHint);
    const uint64_t data = local + 30 + c.at<uint16_t>(local + 26) + c.at<uint16_t>(local + 28);
    SPT_CHECK(data <= size && usize <= size - data, what, ": entry ", name, " (", usize,
              " bytes at ", data, ") lies outside the file", kHint);
    SPT_CHECK(out.emplace(name, ZipEntry{data, usize}).second, what, ": entry ", name,
              " appears twice", kHint);
    p = name_at + name_len + extra_len + comment_len;
  }
  return out;
}

}  // namespace spt::io
