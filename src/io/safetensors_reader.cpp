// safetensors reader: validates the header and the data layout before any
// tensor is trusted (see safetensors.h for the rules), then serves tensors
// straight out of the memory mapping.
#include <algorithm>
#include <cstring>

#include "spt/core/error.h"
#include "spt/io/json_util.h"
#include "spt/io/safetensors.h"

namespace spt::io {

namespace {

const char* kHint = "; hint: the file is corrupt or was not written by a safetensors writer";

struct Parsed {
  TensorInfo info;
  uint64_t begin = 0, end = 0;
};

// Reads a non-negative JSON integer (safetensors shapes and offsets are usize).
bool as_u64(const Json& v, uint64_t& out) {
  if (!v.is_number_unsigned()) return false;
  out = v.get<uint64_t>();
  return true;
}

Parsed parse_entry(const std::string& name, const Json& e, const std::string& what,
                   uint64_t data_size) {
  const std::string at = what + ": tensor \"" + name + "\"";
  SPT_CHECK(e.is_object(), at, " must be an object {dtype, shape, data_offsets}, got ",
            json_kind(e), kHint);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    SPT_CHECK(e.contains(key), at, " has no \"", key, "\"", kHint);
  Parsed p;
  p.info.name = name;
  const Json& dt = e["dtype"];
  SPT_CHECK(dt.is_string(), at, ": \"dtype\" must be a string, got ", json_kind(dt), kHint);
  const auto sd = stored_dtype_from_name(dt.get<std::string>());
  SPT_CHECK(sd.has_value(), at, " has unknown dtype \"", dt.get<std::string>(),
            "\"; hint: spt knows ", stored_dtype_names());
  p.info.dtype = *sd;

  const Json& shape = e["shape"];
  SPT_CHECK(shape.is_array(), at, ": \"shape\" must be an array, got ", json_kind(shape), kHint);
  // The product of the non-zero dims is bounded so that numel * dtype size
  // (and shape_numel()) cannot overflow, e.g. for [2^40, 2^40] or [2^62, 2^62, 0].
  const uint64_t esize = stored_dtype_size(p.info.dtype);
  uint64_t nonzero = 1;
  bool empty = false;
  for (const Json& d : shape) {
    uint64_t v = 0;
    SPT_CHECK(as_u64(d, v), at, ": shape ", shape.dump(),
              " must hold non-negative integers", kHint);
    if (v == 0) {
      empty = true;
    } else {
      SPT_CHECK(nonzero <= static_cast<uint64_t>(INT64_MAX) / esize / v, at, ": shape ",
                shape.dump(), " is too large", kHint);
      nonzero *= v;
    }
    p.info.shape.push_back(static_cast<int64_t>(v));
  }
  const uint64_t bytes = empty ? 0 : nonzero * esize;

  const Json& off = e["data_offsets"];
  SPT_CHECK(off.is_array() && off.size() == 2, at,
            ": \"data_offsets\" must be an array of two integers [begin, end], got ", off.dump(),
            kHint);
  SPT_CHECK(as_u64(off[0], p.begin) && as_u64(off[1], p.end), at, ": data_offsets ", off.dump(),
            " must be non-negative integers", kHint);
  SPT_CHECK(p.begin <= p.end, at, ": data_offsets ", off.dump(), " end before they begin", kHint);
  SPT_CHECK(p.end <= data_size, at, ": data_offsets ", off.dump(),
            " lie outside the data region of ", data_size, " bytes", kHint);
  SPT_CHECK(bytes == p.end - p.begin, at, ": shape ", shape_str(p.info.shape), " of ",
            stored_dtype_name(p.info.dtype), " needs ",
            bytes, " bytes",
            " but data_offsets ", off.dump(), " span ", p.end - p.begin, " bytes", kHint);
  return p;
}

std::map<std::string, std::string> parse_metadata(const Json& m, const std::string& what) {
  std::map<std::string, std::string> out;
  if (m.is_null()) return out;
  SPT_CHECK(m.is_object(), what, ": \"__metadata__\" must be an object of strings, got ",
            json_kind(m), kHint);
  for (const auto& [k, v] : m.items()) {
    SPT_CHECK(v.is_string(), what, ": \"__metadata__\" value of \"", k,
              "\" must be a string, got ", json_kind(v), " ", v.dump(), kHint);
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

SafetensorsHeader parse_safetensors(const unsigned char* buf, size_t size, const std::string& what) {
  SPT_CHECK(size > 0, what, " is empty (0 bytes)", kHint);
  SPT_CHECK(size >= 8, what, " is ", size,
            " bytes long, shorter than the 8-byte header length", kHint);
  uint64_t n = 0;
  std::memcpy(&n, buf, 8);  // little-endian (static_assert in stored_dtype.cpp)
  SPT_CHECK(n <= kMaxSafetensorsHeader, what, ": header length ", n, " exceeds the limit of ",
            kMaxSafetensorsHeader, " bytes", kHint);
  SPT_CHECK(n <= size - 8, what, ": header length ", n, " runs past the end of the file (",
            size, " bytes)", kHint, " (truncated?)");
  SPT_CHECK(n > 0, what, ": header is empty (length 0)", kHint);
  const std::string_view text(reinterpret_cast<const char*>(buf + 8), n);
  const Json j = parse_json_strict(text, what + " header");
  SPT_CHECK(j.is_object(), what, ": header must be a JSON object, got ", json_kind(j), kHint);

  SafetensorsHeader h;
  h.header_len = n;
  const uint64_t data_size = size - 8 - n;
  std::vector<Parsed> entries;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      h.metadata = parse_metadata(v, what);
      continue;
    }
    entries.push_back(parse_entry(name, v, what, data_size));
  }
  // The official reader sorts by offsets and requires the ranges to tile the
  // data region: no overlap, no hole, nothing left over.
  std::stable_sort(entries.begin(), entries.end(), [](const Parsed& a, const Parsed& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  uint64_t expected = 0;
  const Parsed* prev = nullptr;
  for (const Parsed& p : entries) {
    SPT_CHECK(p.begin >= expected, what, ": tensor \"", p.info.name, "\" (bytes [", p.begin, ", ",
              p.end, ")) overlaps tensor \"", prev ? prev->info.name : "", "\" (bytes [",
              prev ? prev->begin : 0, ", ", expected, "))", kHint);
    SPT_CHECK(p.begin == expected, what, ": ", p.begin - expected,
              " bytes of the data region before tensor \"", p.info.name,
              "\" belong to no tensor (a hole at offset ", expected, ")", kHint);
    expected = p.end;
    prev = &p;
  }
  SPT_CHECK(expected == data_size, what, ": the tensors cover ", expected,
            " bytes but the data region has ", data_size, " (", data_size - expected,
            " trailing bytes belong to no tensor)", kHint);
  for (Parsed& p : entries) {
    p.info.slot = h.tensors.size();
    h.begin.push_back(p.begin);
    h.tensors.push_back(std::move(p.info));
  }
  return h;
}

SafetensorsReader::SafetensorsReader(const std::string& path)
    : TensorReader(path), file_(path, "safetensors") {
  SafetensorsHeader h = parse_safetensors(file_.data(), file_.size(), "[safetensors] " + path);
  header_len_ = h.header_len;
  metadata_ = std::move(h.metadata);
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    begin_.push_back(8 + header_len_ + h.begin[i]);
    add(std::move(h.tensors[i]), "safetensors");
  }
}

const unsigned char* SafetensorsReader::bytes(const TensorInfo& t,
                                              std::vector<unsigned char>& /*scratch*/) const {
  return file_.data() + begin_[t.slot];
}

}  // namespace spt::io
