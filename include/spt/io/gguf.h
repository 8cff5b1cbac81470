// GGUF files (llama.cpp's checkpoint format): a validating reader and the
// dequantisation of its tensor types to f32.
//
// Layout (little-endian; ../shared/docs/formats.md part 2, and
// https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):
//   u32 magic "GGUF", u32 version (2 or 3), u64 tensor_count, u64 kv_count,
//   kv_count x {str key, u32 value type, value},
//   tensor_count x {str name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset},
//   zero padding to `general.alignment` (default 32), then the data section;
//   tensor i's bytes start at data_start + offset_i (a multiple of the alignment).
// str = u64 length + UTF-8 bytes; an array = u32 element type, u64 count, elements.
// ne[0] varies fastest: shape() is ne reversed, so a matrix with ne = [in, out]
// is the row-major (out, in) weight of a Hugging Face nn.Linear.
//
// Everything is validated when the file is opened, before any tensor is read:
// counts and lengths against the bytes left (a small file cannot make spt
// allocate gigabytes), value types, array nesting (at most 4 deep), duplicate
// keys and names, dimensions (1 to 4, no overflow), ggml types, ne[0] a multiple
// of the type's block, offsets aligned, every tensor inside the file and no two
// tensors overlapping. Errors name the file and the key or tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "spt/core/tensor.h"
#include "spt/io/mapped_file.h"
#include "spt/io/tensor_reader.h"

namespace spt::io {

// ggml tensor type ids (ggml.h); the ones spt dequantises, and the others by name.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
};

struct GgmlTypeInfo {
  const char* name;      // "Q4_1"
  int64_t block_values;  // values per block (1 for F32 / F16 / BF16)
  int64_t block_bytes;   // bytes per block
  bool dequantizable;    // spt converts it to f32
};

// nullptr for an id ggml does not define (4, 5 and 31-33 were removed).
const GgmlTypeInfo* ggml_type_info(uint32_t type);
// "Q4_1", or "unknown type 77".
std::string ggml_type_name(uint32_t type);
// The types spt dequantises, comma-separated (for error messages).
std::string ggml_dequantizable_names();
// Converts n values (a multiple of the type's block) at src into dst, exactly as
// gguf-py's gguf.quants.dequantize does (same f32 operations, same order).
void dequantize_ggml(uint32_t type, const unsigned char* src, int64_t n, float* dst);

enum class GgufValueType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);

// One metadata value. Scalars: integers in `i` (signed types) or `u` (unsigned
// types and bool), floats in `f`, strings in `s`; arrays: `elem` and `items`.
struct GgufValue {
  GgufValueType type = GgufValueType::u8;
  GgufValueType elem = GgufValueType::u8;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
  std::vector<GgufValue> items;
  bool is_integer() const;
  bool is_float() const { return type == GgufValueType::f32 || type == GgufValueType::f64; }
  // Short text for messages: "u32 576", "string \"llama\"", "array of 49152 string".
  std::string describe() const;
};

struct GgufTensor {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] fastest
  uint32_t type = 0;
  uint64_t offset = 0;       // relative to the data section
  uint64_t nbytes = 0;
  Shape shape() const;       // ne reversed
  int64_t numel() const;
};

struct GgufHeader {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_start = 0;  // absolute file offset of the data section
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::vector<GgufTensor> tensors;                          // file order
};

// Validates the whole layout of a GGUF file held in buf (`what` names it in
// errors) and returns its header. Never reads past `size`.
GgufHeader parse_gguf(const unsigned char* buf, size_t size, const std::string& what);

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const GgufHeader& header() const { return h_; }
  const std::vector<GgufTensor>& tensors() const { return h_.tensors; }

  const GgufValue* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }
  // Typed getters: an absent key or a value of another type is an error naming
  // the file and the key. Integers of any width convert when they fit.
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;  // float or integer values
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;  // array of string
  std::vector<int64_t> get_ints(const std::string& key) const;         // array of integers
  std::vector<double> get_floats(const std::string& key) const;        // array of numbers
  std::optional<int64_t> int_or(const std::string& key) const;  // nullopt when absent

  const GgufTensor* find_tensor(const std::string& name) const;
  const GgufTensor& tensor(const std::string& name) const;  // error naming the file when absent
  // The tensor's bytes as stored (nbytes long, inside the mapping).
  const unsigned char* data(const GgufTensor& t) const { return file_.data() + h_.data_start + t.offset; }
  // The tensor as an f32 CPU tensor of shape(); an error naming the tensor and
  // its type when spt cannot dequantise that type.
  Tensor dequantize(const std::string& name) const;
  void dequantize_into(const GgufTensor& t, float* dst) const;

 private:
  MappedFile file_;
  GgufHeader h_;
};

// A GGUF file as a TensorReader (open_tensors() picks it for *.gguf): every
// tensor under its GGUF name, as F32, dequantised on load. The metadata map
// holds the string-valued keys.
class GgufTensorReader final : public TensorReader {
 public:
  explicit GgufTensorReader(const std::string& path);
  std::string format() const override { return "gguf v" + std::to_string(file_.header().version); }
  const GgufFile& gguf() const { return file_; }

 private:
  const unsigned char* bytes(const TensorInfo& t, std::vector<unsigned char>& scratch) const override;
  GgufFile file_;
};

}  // namespace spt::io
