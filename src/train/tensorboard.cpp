// TensorBoard event files (format in tensorboard.h): the protobuf wire format
// encoded by hand, TFRecord framing with masked CRC-32C, and the reader that
// checks both CRCs of every record.
//
// Protobuf wire format used here: key = varint(field << 3 | wire type); varints
// are little-endian base-128 (7 bits a byte, high bit = more follows); wire
// type 0 varint, 1 fixed 8 bytes, 2 varint length + bytes, 5 fixed 4 bytes.
#include "spt/train/tensorboard.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "spt/core/error.h"
#include "spt/io/checksum.h"

namespace spt::train {

namespace {

constexpr uint32_t kMaskDelta = 0xa282ead8u;
constexpr int kWireVarint = 0, kWireFixed64 = 1, kWireBytes = 2, kWireFixed32 = 5;

// ---- encoding ---------------------------------------------------------------

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, int field, int wire) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire));
}

void put_le(std::string& out, uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, kWireBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event fields 1 and 2, common to every event.
std::string event_head(double wall_time, int64_t step) {
  std::string ev;
  uint64_t bits;
  std::memcpy(&bits, &wall_time, 8);
  put_key(ev, 1, kWireFixed64);
  put_le(ev, bits, 8);
  put_key(ev, 2, kWireVarint);
  put_varint(ev, static_cast<uint64_t>(step));
  return ev;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// ---- decoding ---------------------------------------------------------------

// A bounded view of one message's bytes; errors name the file and the record.
struct Cursor {
  const unsigned char* p;
  const unsigned char* end;
  const std::string& path;
  size_t record_offset;

  [[noreturn]] void bad(const std::string& what) const {
    fail("[tensorboard] ", path, ": record at byte offset ", record_offset, ": ", what,
         "; hint: the event file is corrupt or not a TensorBoard event file");
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) bad("truncated varint");
      const unsigned char b = *p++;
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    bad("varint longer than 10 bytes");
  }
  uint64_t fixed(int nbytes) {
    if (end - p < nbytes) bad("truncated fixed-size field");
    uint64_t v = 0;
    for (int i = 0; i < nbytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    p += nbytes;
    return v;
  }
  Cursor sub() {  // the payload of a length-delimited field
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end - p)) bad("length-delimited field runs past its message");
    Cursor c{p, p + n, path, record_offset};
    p += n;
    return c;
  }
  void skip(int wire) {
    switch (wire) {
      case kWireVarint: varint(); break;
      case kWireFixed64: fixed(8); break;
      case kWireBytes: sub(); break;
      case kWireFixed32: fixed(4); break;
      default: bad(str_cat("unsupported protobuf wire type ", wire));
    }
  }
  std::string str() {
    Cursor c = sub();
    return std::string(reinterpret_cast<const char*>(c.p), c.end - c.p);
  }
};

std::pair<std::string, float> parse_value(Cursor c) {
  std::pair<std::string, float> tv{"", 0.0f};
  while (c.p != c.end) {
    const uint64_t key = c.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == kWireBytes) {
      tv.first = c.str();
    } else if (field == 2 && wire == kWireFixed32) {
      const uint32_t bits = static_cast<uint32_t>(c.fixed(4));
      std::memcpy(&tv.second, &bits, 4);
    } else {
      c.skip(wire);
    }
  }
  return tv;
}

TbEvent parse_event(Cursor c) {
  TbEvent ev;
  while (c.p != c.end) {
    const uint64_t key = c.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == kWireFixed64) {
      const uint64_t bits = c.fixed(8);
      std::memcpy(&ev.wall_time, &bits, 8);
    } else if (field == 2 && wire == kWireVarint) {
      ev.step = static_cast<int64_t>(c.varint());
    } else if (field == 3 && wire == kWireBytes) {
      ev.file_version = c.str();
    } else if (field == 5 && wire == kWireBytes) {
      Cursor s = c.sub();
      while (s.p != s.end) {
        const uint64_t skey = s.varint();
        if ((skey >> 3) == 1 && (skey & 7) == kWireBytes)
          ev.values.push_back(parse_value(s.sub()));
        else
          s.skip(static_cast<int>(skey & 7));
      }
    } else {
      c.skip(wire);
    }
  }
  return ev;
}

uint32_t load_le32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

uint32_t tfrecord_masked_crc(const void* data, size_t n) {
  const uint32_t crc = io::crc32c(0, data, n);
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

// ---- writer -----------------------------------------------------------------

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  SPT_CHECK(!ec, "[tensorboard] cannot create the folder ", dir, ": ", ec.message(),
            "; hint: choose a writable tensorboard folder");
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  const double now = now_seconds();
  path_ = (std::filesystem::path(dir) /
           str_cat("events.out.tfevents.", static_cast<int64_t>(now), ".", host, ".", ::getpid(),
                   ".spt"))
              .string();
  out_.open(path_, std::ios::binary | std::ios::trunc);
  SPT_CHECK(out_.is_open(), "[tensorboard] cannot create ", path_,
            "; hint: check that the folder is writable");
  std::string ev = event_head(now, 0);
  put_bytes(ev, 3, "brain.Event:2");
  write_record(ev);
  flush();
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  scalars({{tag, value}}, step);
}

void TensorBoardWriter::scalars(const std::vector<std::pair<std::string, double>>& values,
                                int64_t step) {
  if (values.empty()) return;
  std::string summary;
  for (const auto& [tag, value] : values) {
    SPT_CHECK(!tag.empty(), "[tensorboard] ", path_, ": empty scalar tag at step ", step,
              "; hint: give every scalar a name such as train/loss");
    std::string v;
    put_bytes(v, 1, tag);
    const float f = static_cast<float>(value);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    put_key(v, 2, kWireFixed32);
    put_le(v, bits, 4);
    put_bytes(summary, 1, v);
  }
  std::string ev = event_head(now_seconds(), step);
  put_bytes(ev, 5, summary);
  write_record(ev);
}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string rec;
  rec.reserve(data.size() + 16);
  put_le(rec, data.size(), 8);
  put_le(rec, tfrecord_masked_crc(rec.data(), 8), 4);
  rec += data;
  put_le(rec, tfrecord_masked_crc(data.data(), data.size()), 4);
  out_.write(rec.data(), static_cast<std::streamsize>(rec.size()));
  SPT_CHECK(out_.good(), "[tensorboard] write failed on ", path_,
            "; hint: check free disk space and that the file is writable");
}

void TensorBoardWriter::flush() {
  out_.flush();
  SPT_CHECK(out_.good(), "[tensorboard] flush failed on ", path_,
            "; hint: check free disk space and that the file is writable");
}

// ---- reader -----------------------------------------------------------------

std::vector<TbEvent> read_tensorboard_events(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SPT_CHECK(in.is_open(), "[tensorboard] cannot open ", path,
            "; hint: pass the path of an events.out.tfevents.* file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SPT_CHECK(!in.bad(), "[tensorboard] read error on ", path);
  const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
  std::vector<TbEvent> events;
  size_t off = 0;
  while (off < bytes.size()) {
    Cursor rec{base + off, base + bytes.size(), path, off};
    if (bytes.size() - off < 12) rec.bad("truncated record header");
    const uint64_t len = rec.fixed(8);
    if (load_le32(rec.p) != tfrecord_masked_crc(base + off, 8)) rec.bad("length CRC mismatch");
    rec.p += 4;
    if (len > static_cast<uint64_t>(rec.end - rec.p) || rec.end - rec.p - len < 4)
      rec.bad(str_cat("record of ", len, " bytes runs past the end of the file"));
    const unsigned char* data = rec.p;
    if (load_le32(data + len) != tfrecord_masked_crc(data, len)) rec.bad("data CRC mismatch");
    events.push_back(parse_event(Cursor{data, data + len, path, off}));
    off += 12 + len + 4;
  }
  return events;
}

}  // namespace spt::train
