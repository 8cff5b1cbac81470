// GGUF reader: the header is parsed with a bounds-checked cursor and the whole
// layout validated (see spt/io/gguf.h for the rules) before any tensor is
// trusted; tensors are then dequantised straight out of the memory mapping.
#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "spt/core/error.h"
#include "spt/io/gguf.h"

namespace spt::io {

namespace {

const char* kHint = "; hint: the file is corrupt, truncated or not a GGUF file";
constexpr int kMaxDepth = 4;   // arrays of arrays nest at most this deep
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
// Metadata values in all (array items included): each takes ~90 bytes in memory
// however small it is in the file, so this bounds what a file can make spt
// allocate (~360 MB). Real files hold a few hundred thousand (a 256k vocabulary
// with its scores and types is ~770k).
constexpr uint64_t kMaxValues = uint64_t{1} << 22;
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;  // real models: a few thousand

// A cursor over buf[0, size) that never reads past the end.
class Cursor {
 public:
  Cursor(const unsigned char* buf, size_t size, const std::string& what) : buf_(buf), size_(size), what_(what) {}
  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  template <class T>
  T read(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, buf_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* field) {
    const uint64_t n = read<uint64_t>(field);
    need(n, field);
    std::string s(reinterpret_cast<const char*>(buf_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  // `count` items of at least `min_bytes` each must fit in what is left.
  void need_items(uint64_t count, uint64_t min_bytes, const char* field) const {
    SPT_CHECK(min_bytes == 0 || count <= left() / min_bytes, what_, ": ", field, " claims ", count,
              " entries but only ", left(), " bytes are left", kHint);
  }

 private:
  void need(uint64_t n, const char* field) const {
    SPT_CHECK(n <= left(), what_, ": ", field, " needs ", n, " bytes at offset ", pos_, " but only ", left(),
              " are left", kHint);
  }
  const unsigned char* buf_;
  size_t size_, pos_ = 0;
  const std::string& what_;
};

uint64_t min_value_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::boolean: return 1;
    case GgufValueType::u16: case GgufValueType::i16: return 2;
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::f32: return 4;
    case GgufValueType::u64: case GgufValueType::i64: case GgufValueType::f64: case GgufValueType::string: return 8;
    case GgufValueType::array: return 12;
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::f64); }

GgufValue read_value(Cursor& c, GgufValueType t, const std::string& what, const std::string& key, int depth,
                     uint64_t& values) {
  SPT_CHECK(++values <= kMaxValues, what, ": more than ", kMaxValues, " metadata values (at key \"", key,
            "\"); hint: the file is corrupt or hostile");
  GgufValue v;
  v.type = t;
  switch (t) {
    case GgufValueType::u8: v.u = c.read<uint8_t>("a u8 value"); break;
    case GgufValueType::i8: v.i = c.read<int8_t>("an i8 value"); break;
    case GgufValueType::u16: v.u = c.read<uint16_t>("a u16 value"); break;
    case GgufValueType::i16: v.i = c.read<int16_t>("an i16 value"); break;
    case GgufValueType::u32: v.u = c.read<uint32_t>("a u32 value"); break;
    case GgufValueType::i32: v.i = c.read<int32_t>("an i32 value"); break;
    case GgufValueType::u64: v.u = c.read<uint64_t>("a u64 value"); break;
    case GgufValueType::i64: v.i = c.read<int64_t>("an i64 value"); break;
    case GgufValueType::f32: v.f = c.read<float>("an f32 value"); break;
    case GgufValueType::f64: v.f = c.read<double>("an f64 value"); break;
    case GgufValueType::boolean: {
      const uint8_t b = c.read<uint8_t>("a bool value");
      SPT_CHECK(b <= 1, what, ": key \"", key, "\" holds bool byte ", int{b}, " (must be 0 or 1)", kHint);
      v.u = b;
      break;
    }
    case GgufValueType::string: v.s = c.str("a string value"); break;
    case GgufValueType::array: {
      SPT_CHECK(depth < kMaxDepth, what, ": key \"", key, "\" nests arrays more than ", kMaxDepth, " deep", kHint);
      const uint32_t et = c.read<uint32_t>("an array's element type");
      SPT_CHECK(valid_value_type(et), what, ": key \"", key, "\" is an array of unknown value type ", et, kHint);
      v.elem = static_cast<GgufValueType>(et);
      const uint64_t n = c.read<uint64_t>("an array's length");
      c.need_items(n, min_value_bytes(v.elem), ("the array of key \"" + key + "\"").c_str());
      v.items.reserve(static_cast<size_t>(std::min<uint64_t>(n, 1u << 16)));
      for (uint64_t j = 0; j < n; ++j) v.items.push_back(read_value(c, v.elem, what, key, depth + 1, values));
      break;
    }
  }
  return v;
}

bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

void read_tensor_info(Cursor& c, GgufTensor& t, const std::string& what) {
  t.name = c.str("a tensor name");
  const std::string at = what + ": tensor \"" + t.name + "\"";
  const uint32_t nd = c.read<uint32_t>("a tensor's n_dims");
  SPT_CHECK(nd >= 1 && nd <= kMaxDims, at, " has ", nd, " dimensions (1 to ", kMaxDims, ")", kHint);
  uint64_t numel = 1;
  for (uint32_t j = 0; j < nd; ++j) {
    const uint64_t d = c.read<uint64_t>("a tensor dimension");
    SPT_CHECK(d <= static_cast<uint64_t>(INT64_MAX) && (d == 0 || numel <= static_cast<uint64_t>(INT64_MAX) / d), at,
              " has dimensions too large (ne[", j, "] = ", d, ")", kHint);
    numel *= d;
    t.ne.push_back(d);
  }
  t.type = c.read<uint32_t>("a tensor's type");
  const GgmlTypeInfo* ti = ggml_type_info(t.type);
  SPT_CHECK(ti != nullptr, at, " has unknown ggml type ", t.type, kHint);
  SPT_CHECK(t.ne[0] % static_cast<uint64_t>(ti->block_values) == 0, at, " of type ", ti->name, " has rows of ",
            t.ne[0], " values, not a multiple of its block of ", ti->block_values, kHint);
  t.offset = c.read<uint64_t>("a tensor's offset");
  const uint64_t blocks = numel / static_cast<uint64_t>(ti->block_values);
  SPT_CHECK(blocks <= static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(ti->block_bytes), at,
            " is too large", kHint);
  t.nbytes = blocks * static_cast<uint64_t>(ti->block_bytes);
}

}  // namespace

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::u16: case GgufValueType::i16:
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::u64: case GgufValueType::i64:
      return true;
    default:
      return false;
  }
}

const char* gguf_value_type_name(GgufValueType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
                                "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(names) ? names[i] : "unknown";
}

std::string GgufValue::describe() const {
  const std::string tn = gguf_value_type_name(type);
  switch (type) {
    case GgufValueType::string: return "string \"" + (s.size() > 40 ? s.substr(0, 40) + "..." : s) + "\"";
    case GgufValueType::array:
      return "array of " + std::to_string(items.size()) + " " + gguf_value_type_name(elem);
    case GgufValueType::boolean: return u ? "bool true" : "bool false";
    case GgufValueType::f32: case GgufValueType::f64: return tn + " " + std::to_string(f);
    case GgufValueType::i8: case GgufValueType::i16: case GgufValueType::i32: case GgufValueType::i64:
      return tn + " " + std::to_string(i);
    default: return tn + " " + std::to_string(u);
  }
}

Shape GgufTensor::shape() const {
  Shape s;
  for (auto it = ne.rbegin(); it != ne.rend(); ++it) s.push_back(static_cast<int64_t>(*it));
  return s;
}

int64_t GgufTensor::numel() const { return shape_numel(shape()); }

GgufHeader parse_gguf(const unsigned char* buf, size_t size, const std::string& what) {
  Cursor c(buf, size, what);
  GgufHeader h;
  const uint32_t magic = c.read<uint32_t>("the magic");
  SPT_CHECK(magic == 0x46554747u, what, ": not a GGUF file (the first 4 bytes are not \"GGUF\")",
            "; hint: pass a .gguf file written by llama.cpp or gguf-py");
  h.version = c.read<uint32_t>("the version");
  SPT_CHECK(h.version == 0 || (h.version & 0xFFFFu) != 0, what, ": a big-endian GGUF file (version bytes ", h.version,
            "); hint: spt reads little-endian GGUF files, convert it with gguf-py");
  SPT_CHECK(h.version == 2 || h.version == 3, what, ": GGUF version ", h.version,
            " is not supported (2 and 3 are)", h.version == 1 ? "; hint: v1 files use 32-bit counts, re-convert "
            "the model with a current llama.cpp" : kHint);
  const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
  const uint64_t n_kv = c.read<uint64_t>("the metadata count");
  c.need_items(n_kv, 8 + 4 + 1, "the metadata count");
  std::unordered_set<std::string> keys;
  uint64_t values = 0;
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.str("a metadata key");
    SPT_CHECK(keys.insert(key).second, what, ": metadata key \"", key, "\" appears twice", kHint);
    const uint32_t t = c.read<uint32_t>("a metadata value type");
    SPT_CHECK(valid_value_type(t), what, ": key \"", key, "\" has unknown value type ", t, kHint);
    GgufValue v = read_value(c, static_cast<GgufValueType>(t), what, key, 0, values);
    h.metadata.emplace_back(std::move(key), std::move(v));
  }
  for (const auto& [key, v] : h.metadata) {
    if (key != "general.alignment") continue;
    SPT_CHECK(v.type == GgufValueType::u32 && is_power_of_two(v.u), what,
              ": general.alignment must be a u32 power of two, got ", v.describe(), kHint);
    h.alignment = v.u;
  }
  c.need_items(n_tensors, 8 + 4 + 8 + 4 + 8, "the tensor count");
  SPT_CHECK(n_tensors <= kMaxTensors, what, ": ", n_tensors, " tensors (at most ", kMaxTensors, ")", kHint);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    read_tensor_info(c, t, what);
    SPT_CHECK(names.insert(t.name).second, what, ": tensor \"", t.name, "\" appears twice", kHint);
    h.tensors.push_back(std::move(t));
  }
  const uint64_t end = c.pos();
  h.data_start = (end + h.alignment - 1) / h.alignment * h.alignment;
  if (h.tensors.empty()) return h;
  SPT_CHECK(h.data_start <= size, what, ": the data section would start at byte ", h.data_start,
            " past the end of the file (", size, " bytes)", kHint);
  const uint64_t data_size = size - h.data_start;
  std::vector<const GgufTensor*> by_offset;
  for (const GgufTensor& t : h.tensors) {
    const std::string at = what + ": tensor \"" + t.name + "\"";
    SPT_CHECK(t.offset % h.alignment == 0, at, " starts at offset ", t.offset, ", not a multiple of the alignment ",
              h.alignment, kHint);
    SPT_CHECK(t.offset <= data_size && t.nbytes <= data_size - t.offset, at, " (", ggml_type_name(t.type), ", ",
              t.nbytes, " bytes at data offset ", t.offset, ") runs past the end of the file (", data_size,
              " data bytes)", kHint);
    if (t.nbytes > 0) by_offset.push_back(&t);  // gguf-py gives an empty tensor the next one's offset
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor &a = *by_offset[i - 1], &b = *by_offset[i];
    SPT_CHECK(a.offset + a.nbytes <= b.offset, what, ": tensors \"", a.name, "\" and \"", b.name,
              "\" overlap (bytes ", a.offset, "+", a.nbytes, " and ", b.offset, ")", kHint);
  }
  return h;
}

// ---- GgufFile ----

GgufFile::GgufFile(const std::string& path) : file_(path, "gguf") {
  h_ = parse_gguf(file_.data(), file_.size(), "[gguf] " + path);
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : h_.metadata)
    if (k == key) return &v;
  return nullptr;
}

namespace {

const GgufValue& need(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  SPT_CHECK(v != nullptr, "[gguf] ", f.path(), " has no metadata key \"", key, "\"",
            "; hint: list its keys with spt-convert inspect");
  return *v;
}

int64_t to_int(const GgufValue& v, const std::string& where) {
  SPT_CHECK(v.is_integer(), where, " must be an integer, got ", v.describe());
  const bool is_signed = v.type == GgufValueType::i8 || v.type == GgufValueType::i16 ||
                         v.type == GgufValueType::i32 || v.type == GgufValueType::i64;
  if (is_signed) return v.i;
  SPT_CHECK(v.u <= static_cast<uint64_t>(INT64_MAX), where, " = ", v.u, " is too large");
  return static_cast<int64_t>(v.u);
}

double to_float(const GgufValue& v, const std::string& where) {
  if (v.is_float()) return v.f;
  SPT_CHECK(v.is_integer(), where, " must be a number, got ", v.describe());
  return static_cast<double>(to_int(v, where));
}

std::string where(const GgufFile& f, const std::string& key) { return "[gguf] " + f.path() + ": \"" + key + "\""; }

}  // namespace

int64_t GgufFile::get_int(const std::string& key) const { return to_int(need(*this, key), where(*this, key)); }

double GgufFile::get_float(const std::string& key) const { return to_float(need(*this, key), where(*this, key)); }

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  SPT_CHECK(v.type == GgufValueType::boolean, where(*this, key), " must be a bool, got ", v.describe());
  return v.u != 0;
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  SPT_CHECK(v.type == GgufValueType::string, where(*this, key), " must be a string, got ", v.describe());
  return v.s;
}

std::vector<std::string> GgufFile::get_strings(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  SPT_CHECK(v.type == GgufValueType::array && v.elem == GgufValueType::string, where(*this, key),
            " must be an array of strings, got ", v.describe());
  std::vector<std::string> out;
  out.reserve(v.items.size());
  for (const GgufValue& e : v.items) out.push_back(e.s);
  return out;
}

std::vector<int64_t> GgufFile::get_ints(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  SPT_CHECK(v.type == GgufValueType::array, where(*this, key), " must be an array of integers, got ", v.describe());
  std::vector<int64_t> out;
  out.reserve(v.items.size());
  for (const GgufValue& e : v.items) out.push_back(to_int(e, where(*this, key) + " element"));
  return out;
}

std::vector<double> GgufFile::get_floats(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  SPT_CHECK(v.type == GgufValueType::array, where(*this, key), " must be an array of numbers, got ", v.describe());
  std::vector<double> out;
  out.reserve(v.items.size());
  for (const GgufValue& e : v.items) out.push_back(to_float(e, where(*this, key) + " element"));
  return out;
}

std::optional<int64_t> GgufFile::int_or(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  for (const GgufTensor& t : h_.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
  const GgufTensor* t = find_tensor(name);
  SPT_CHECK(t != nullptr, "[gguf] ", path(), " has no tensor \"", name,
            "\"; hint: list its tensors with spt-convert inspect");
  return *t;
}

void GgufFile::dequantize_into(const GgufTensor& t, float* dst) const {
  const GgmlTypeInfo* ti = ggml_type_info(t.type);
  SPT_CHECK(ti != nullptr && ti->dequantizable, "[gguf] ", path(), ": tensor \"", t.name, "\" has type ",
            ggml_type_name(t.type), ", which spt cannot dequantise; hint: spt reads ", ggml_dequantizable_names(),
            " (re-quantise the model with llama-quantize to one of them)");
  dequantize_ggml(t.type, data(t), t.numel(), dst);
}

Tensor GgufFile::dequantize(const std::string& name) const {
  const GgufTensor& t = tensor(name);
  Tensor out = Tensor::empty(t.shape(), DType::f32);
  dequantize_into(t, out.data<float>());
  return out;
}

// ---- GgufTensorReader ----

GgufTensorReader::GgufTensorReader(const std::string& path) : TensorReader(path), file_(path) {
  for (size_t i = 0; i < file_.tensors().size(); ++i) {
    const GgufTensor& t = file_.tensors()[i];
    add({t.name, StoredDType::F32, t.shape(), i}, "gguf");
  }
  for (const auto& [k, v] : file_.header().metadata)
    if (v.type == GgufValueType::string) metadata_[k] = v.s;
}

const unsigned char* GgufTensorReader::bytes(const TensorInfo& t, std::vector<unsigned char>& scratch) const {
  const GgufTensor& g = file_.tensors()[t.slot];
  scratch.resize(static_cast<size_t>(g.numel()) * sizeof(float));
  file_.dequantize_into(g, reinterpret_cast<float*>(scratch.data()));
  return scratch.data();
}

}  // namespace spt::io
