// Protobuf wire-format walking for SentencePiece models (see spm_proto.h).
// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
#include "src/tokenize/spm_proto.h"

#include <cstdint>
#include <utility>

#include "spt/core/error.h"

namespace spt::tokenize {

namespace {

struct Reader {
  std::string_view s;
  size_t pos = 0;
  const std::string& file;

  [[noreturn]] void bad() const {
    fail("[sentencepiece] ", file, ": not a SentencePiece model (malformed protobuf at byte ",
         pos, "); hint: pass the tokenizer.model file of a SentencePiece tokenizer");
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= s.size()) bad();
      const auto b = static_cast<unsigned char>(s[pos++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    bad();
  }
  // Skips the value of a field of `wire` type; returns the value's bytes.
  std::string_view value(uint32_t wire) {
    const size_t start = pos;
    switch (wire) {
      case 0: varint(); break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const uint64_t n = varint();
        if (n > s.size() - pos) bad();
        return s.substr(std::exchange(pos, pos + n), n);
      }
      default: bad();
    }
    if (pos > s.size()) bad();
    return s.substr(start, pos - start);
  }
};

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

}  // namespace

SpmProtoInfo inspect_spm_model(std::string_view model, const std::string& file) {
  SpmProtoInfo info;
  Reader top{model, 0, file};
  bool has_pieces = false, has_normalizer = false;
  while (top.pos < model.size()) {
    const size_t field_start = top.pos;
    const uint64_t tag = top.varint();
    const uint32_t field = static_cast<uint32_t>(tag >> 3), wire = static_cast<uint32_t>(tag & 7);
    const std::string_view v = top.value(wire);
    has_pieces |= field == 1 && wire == 2;
    if (field != 3 || wire != 2) {
      info.without_dummy_prefix.append(model.substr(field_start, top.pos - field_start));
      continue;
    }
    has_normalizer = true;
    Reader sub{v, 0, file};
    std::string spec;
    while (sub.pos < v.size()) {
      const size_t f0 = sub.pos;
      const uint64_t t = sub.varint();
      const std::string_view fv = sub.value(static_cast<uint32_t>(t & 7));
      if ((t >> 3) == 3 && (t & 7) == 0) {
        info.add_dummy_prefix = !(fv.size() == 1 && fv[0] == 0);
        continue;
      }
      spec.append(v.substr(f0, sub.pos - f0));
    }
    spec.push_back(static_cast<char>(3 << 3));  // field 3, varint
    spec.push_back(0);
    put_varint(info.without_dummy_prefix, (3 << 3) | 2);
    put_varint(info.without_dummy_prefix, spec.size());
    info.without_dummy_prefix += spec;
  }
  SPT_CHECK(has_pieces, "[sentencepiece] ", file, ": not a SentencePiece model (no pieces); "
            "hint: pass the tokenizer.model file of a SentencePiece tokenizer");
  if (!has_normalizer) info.add_dummy_prefix = true;
  return info;
}

}  // namespace spt::tokenize
