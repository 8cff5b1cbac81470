// TensorBoard event files: scalars round trip through TensorBoardWriter and
// read_tensorboard_events, the TFRecord framing checked byte by byte against a
// CRC-32C written here independently (anchored on the standard check value),
// unknown protobuf fields skipped, and corrupt records named by byte offset.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "spt/core/error.h"
#include "spt/train/tensorboard.h"

using namespace spt::train;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed with everything in it.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("spt-tb-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78), independent of spt::io.
uint32_t slow_crc32c(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

uint32_t slow_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
}

uint64_t le(const std::string& s, size_t off, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(static_cast<unsigned char>(s[off + i])) << (8 * i);
  return v;
}

std::string error_of(const std::string& path) {
  try {
    read_tensorboard_events(path);
  } catch (const spt::Error& e) {
    return e.what();
  }
  return "";
}

// Frames `data` as one TFRecord with the independent CRC.
std::string frame(const std::string& data) {
  std::string r;
  for (int i = 0; i < 8; ++i) r.push_back(static_cast<char>((uint64_t(data.size()) >> (8 * i)) & 0xFF));
  const auto put32 = [&r](uint32_t v) {
    for (int i = 0; i < 4; ++i) r.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put32(slow_mask(slow_crc32c(reinterpret_cast<const unsigned char*>(r.data()), 8)));
  r += data;
  put32(slow_mask(slow_crc32c(reinterpret_cast<const unsigned char*>(data.data()), data.size())));
  return r;
}

// The first event: 0x09 + double, 0x10 0x00 (step 0), 0x1a 0x0d "brain.Event:2".
constexpr size_t kFirstRecord = 12 + (1 + 8 + 2 + 2 + 13) + 4;

}  // namespace

TEST_CASE("tensorboard scalars round trip with NaN and large steps", "[tensorboard]") {
  ScratchDir tmp;
  const std::string dir = (tmp.path / "run" / "tb").string();
  std::string path;
  {
    TensorBoardWriter w(dir);
    path = w.path();
    w.scalar("train/loss", 2.5, 1);
    w.scalars({{"train/loss", 1.25}, {"train/lr", 3e-5}, {"eval/accuracy", 0.875}}, 2);
    w.scalar("train/loss", std::nan(""), 3);
    w.scalar("train/grad_norm", std::numeric_limits<double>::infinity(), 4);
    w.scalar("train/loss", 0.1, int64_t(1) << 40);
    w.scalar("train/loss", -7.0, -1);
    w.flush();
  }
  CHECK(fs::path(path).parent_path() == fs::path(dir));
  const std::string name = fs::path(path).filename().string();
  CHECK(name.rfind("events.out.tfevents.", 0) == 0);
  CHECK(name.size() > 4);
  CHECK(name.substr(name.size() - 4) == ".spt");

  const auto ev = read_tensorboard_events(path);
  REQUIRE(ev.size() == 7);
  CHECK(ev[0].file_version == "brain.Event:2");
  CHECK(ev[0].values.empty());
  CHECK(ev[0].wall_time > 1.6e9);
  for (size_t i = 1; i < ev.size(); ++i) {
    CHECK(ev[i].file_version.empty());
    CHECK(ev[i].wall_time >= ev[0].wall_time);
  }
  using V = std::vector<std::pair<std::string, float>>;
  CHECK(ev[1].step == 1);
  CHECK(ev[1].values == V{{"train/loss", 2.5f}});
  CHECK(ev[2].step == 2);
  CHECK(ev[2].values == V{{"train/loss", 1.25f}, {"train/lr", 3e-5f}, {"eval/accuracy", 0.875f}});
  CHECK(ev[3].step == 3);
  REQUIRE(ev[3].values.size() == 1);
  CHECK(ev[3].values[0].first == "train/loss");
  CHECK(std::isnan(ev[3].values[0].second));
  CHECK(ev[4].values[0].second == std::numeric_limits<float>::infinity());
  CHECK(ev[5].step == (int64_t(1) << 40));
  CHECK(ev[5].values == V{{"train/loss", 0.1f}});
  CHECK(ev[6].step == -1);
  CHECK(ev[6].values == V{{"train/loss", -7.0f}});
}

TEST_CASE("tensorboard record framing matches a hand-computed masked CRC-32C", "[tensorboard]") {
  const char* check = "123456789";
  REQUIRE(slow_crc32c(reinterpret_cast<const unsigned char*>(check), 9) == 0xE3069283u);
  // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8 = 0x2507C60D + 0xA282EAD8.
  CHECK(slow_mask(0xE3069283u) == 0xC78AB0E5u);
  CHECK(tfrecord_masked_crc(check, 9) == 0xC78AB0E5u);

  ScratchDir tmp;
  std::string path;
  {
    TensorBoardWriter w(tmp.path.string());
    path = w.path();
    w.scalar("a", 1.0, 7);
  }
  const std::string b = file_bytes(path);
  // Record 1: length 26, its masked CRC, the event bytes, their masked CRC.
  REQUIRE(b.size() > kFirstRecord);
  CHECK(le(b, 0, 8) == 26);
  const auto* u = reinterpret_cast<const unsigned char*>(b.data());
  CHECK(le(b, 8, 4) == slow_mask(slow_crc32c(u, 8)));
  CHECK(static_cast<unsigned char>(b[12]) == 0x09);  // field 1, wire type 1
  CHECK(b.substr(21, 4) == std::string("\x10\x00\x1a\x0d", 4));
  CHECK(b.substr(25, 13) == "brain.Event:2");
  CHECK(le(b, 38, 4) == slow_mask(slow_crc32c(u + 12, 26)));
  // Record 2: Event{wall_time, step 7, summary{value{tag "a", simple_value 1.0f}}}.
  const size_t r = kFirstRecord;
  const std::string want_tail = std::string("\x10\x07\x2a\x0a\x0a\x08\x0a\x01" "a" "\x15", 10) +
                                std::string("\x00\x00\x80\x3f", 4);  // 1.0f little-endian
  CHECK(le(b, r, 8) == 9 + want_tail.size());
  CHECK(le(b, r + 8, 4) == slow_mask(slow_crc32c(u + r, 8)));
  CHECK(b.substr(r + 12 + 9, want_tail.size()) == want_tail);
  CHECK(le(b, r + 12 + 9 + want_tail.size(), 4) == slow_mask(slow_crc32c(u + r + 12, 9 + want_tail.size())));
  CHECK(b.size() == r + 12 + 9 + want_tail.size() + 4);
}

TEST_CASE("tensorboard reader skips unknown protobuf fields", "[tensorboard]") {
  ScratchDir tmp;
  const std::string path = (tmp.path / "events.out.tfevents.hand").string();
  // Value{tag "x" = 1, metadata (9, bytes) {0x08 0x01}, simple_value 2.0f}
  const std::string value = std::string("\x0a\x01x\x4a\x02\x08\x01\x15\x00\x00\x00\x40", 12);
  // Event{step 5, unknown 6 varint 300, unknown 7 fixed32, summary{value}, unknown 9 fixed64}
  std::string event = std::string("\x10\x05\x30\xac\x02\x3d\x01\x02\x03\x04\x2a", 11);
  event += static_cast<char>(2 + value.size());
  event += std::string("\x0a", 1) + static_cast<char>(value.size()) + value;
  event += std::string("\x49\x01\x02\x03\x04\x05\x06\x07\x08", 9);
  write_bytes(path, frame(event));
  const auto ev = read_tensorboard_events(path);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].step == 5);
  CHECK(ev[0].values == std::vector<std::pair<std::string, float>>{{"x", 2.0f}});
}

TEST_CASE("tensorboard reader names the byte offset of a corrupt record", "[tensorboard]") {
  ScratchDir tmp;
  std::string path;
  {
    TensorBoardWriter w(tmp.path.string());
    path = w.path();
    w.scalar("train/loss", 1.0, 1);
    w.scalar("train/loss", 0.5, 2);
  }
  const std::string good = file_bytes(path);
  REQUIRE(read_tensorboard_events(path).size() == 3);
  const std::string off = "byte offset " + std::to_string(kFirstRecord);

  std::string bad = good;
  bad[kFirstRecord + 14] ^= 0x01;  // a byte of the second record's event data
  write_bytes(path, bad);
  CHECK_THAT(error_of(path), Catch::Contains(path) && Catch::Contains(off) &&
                                 Catch::Contains("data CRC mismatch") && Catch::Contains("hint:"));

  bad = good;
  bad[kFirstRecord + 1] ^= 0x40;  // the second record's length
  write_bytes(path, bad);
  CHECK_THAT(error_of(path), Catch::Contains(off) && Catch::Contains("length CRC mismatch"));

  write_bytes(path, good.substr(0, good.size() - 3));  // the last record cut short
  const size_t last = kFirstRecord + (good.size() - kFirstRecord) / 2;
  CHECK_THAT(error_of(path), Catch::Contains("byte offset " + std::to_string(last)) &&
                                 Catch::Contains("past the end of the file"));

  CHECK_THAT(error_of((tmp.path / "missing").string()), Catch::Contains("cannot open"));
}

TEST_CASE("tensorboard writer names a folder it cannot create", "[tensorboard]") {
  ScratchDir tmp;
  const std::string file = (tmp.path / "plain_file").string();
  write_bytes(file, "x");
  try {
    TensorBoardWriter w(file + "/tb");
    FAIL("no error");
  } catch (const spt::Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains(file + "/tb") && Catch::Contains("hint:"));
  }
}
