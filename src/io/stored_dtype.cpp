// Stored (file) dtypes: names, sizes, and conversion into runtime tensors.
#include "spt/io/stored_dtype.h"

#include <bit>
#include <cstring>
#include <limits>

#include "spt/core/error.h"

namespace spt::io {

static_assert(std::endian::native == std::endian::little,
              "checkpoint files are little-endian; spt reads them in place");

namespace {

struct Entry {
  StoredDType dt;
  const char* name;
  size_t size;
};

constexpr Entry kTable[] = {
    {StoredDType::BOOL, "BOOL", 1},       {StoredDType::U8, "U8", 1},
    {StoredDType::I8, "I8", 1},           {StoredDType::F8_E5M2, "F8_E5M2", 1},
    {StoredDType::F8_E4M3, "F8_E4M3", 1}, {StoredDType::F8_E8M0, "F8_E8M0", 1},
    {StoredDType::I16, "I16", 2},         {StoredDType::U16, "U16", 2},
    {StoredDType::F16, "F16", 2},         {StoredDType::BF16, "BF16", 2},
    {StoredDType::I32, "I32", 4},         {StoredDType::U32, "U32", 4},
    {StoredDType::F32, "F32", 4},         {StoredDType::C64, "C64", 8},
    {StoredDType::F64, "F64", 8},         {StoredDType::I64, "I64", 8},
    {StoredDType::U64, "U64", 8},
};

const Entry& entry(StoredDType dt) { return kTable[static_cast<size_t>(dt)]; }

template <class T>
T load(const unsigned char* p, int64_t i) {
  T v;
  std::memcpy(&v, p + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return v;
}

// Element i of a floating source as double (exact for every source type).
double load_float(const unsigned char* p, StoredDType dt, int64_t i) {
  switch (dt) {
    case StoredDType::F64: return load<double>(p, i);
    case StoredDType::F32: return load<float>(p, i);
    case StoredDType::F16: return f16_to_f32(load<uint16_t>(p, i));
    case StoredDType::BF16: return bf16_to_f32(load<uint16_t>(p, i));
    default: return 0.0;
  }
}

// Element i of an integer source; U64 values past INT64_MAX are flagged.
int64_t load_int(const unsigned char* p, StoredDType dt, int64_t i, bool& overflow) {
  switch (dt) {
    case StoredDType::BOOL:
    case StoredDType::U8: return load<uint8_t>(p, i);
    case StoredDType::I8: return load<int8_t>(p, i);
    case StoredDType::I16: return load<int16_t>(p, i);
    case StoredDType::U16: return load<uint16_t>(p, i);
    case StoredDType::I32: return load<int32_t>(p, i);
    case StoredDType::U32: return load<uint32_t>(p, i);
    case StoredDType::I64: return load<int64_t>(p, i);
    case StoredDType::U64: {
      const uint64_t u = load<uint64_t>(p, i);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      return static_cast<int64_t>(u);
    }
    default: return 0;
  }
}

}  // namespace

const char* stored_dtype_name(StoredDType dt) { return entry(dt).name; }

std::optional<StoredDType> stored_dtype_from_name(const std::string& name) {
  for (const Entry& e : kTable)
    if (name == e.name) return e.dt;
  return std::nullopt;
}

std::string stored_dtype_names() {
  std::string s;
  for (const Entry& e : kTable) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

size_t stored_dtype_size(StoredDType dt) { return entry(dt).size; }

bool stored_is_floating(StoredDType dt) {
  return dt == StoredDType::F64 || dt == StoredDType::F32 || dt == StoredDType::F16 ||
         dt == StoredDType::BF16;
}

bool stored_is_integer(StoredDType dt) {
  switch (dt) {
    case StoredDType::BOOL: case StoredDType::U8: case StoredDType::I8: case StoredDType::I16:
    case StoredDType::U16: case StoredDType::I32: case StoredDType::U32: case StoredDType::I64:
    case StoredDType::U64: return true;
    default: return false;
  }
}

std::optional<DType> runtime_dtype_of(StoredDType dt) {
  switch (dt) {
    case StoredDType::F64: return DType::f64;
    case StoredDType::F32: return DType::f32;
    case StoredDType::F16: return DType::f16;
    case StoredDType::BF16: return DType::bf16;
    case StoredDType::I32: return DType::i32;
    case StoredDType::I64: return DType::i64;
    default: return std::nullopt;
  }
}

StoredDType stored_dtype_of(DType dt) {
  switch (dt) {
    case DType::f64: return StoredDType::F64;
    case DType::f32: return StoredDType::F32;
    case DType::f16: return StoredDType::F16;
    case DType::bf16: return StoredDType::BF16;
    case DType::i32: return StoredDType::I32;
    case DType::i64: return StoredDType::I64;
    case DType::i16: return StoredDType::I16;
  }
  return StoredDType::F32;
}

void convert_into(Tensor& dst, const void* src, StoredDType src_dt, int64_t numel,
                  const std::string& ctx) {
  SPT_CHECK(dst.defined() && dst.device().is_cpu() && dst.is_contiguous() && dst.numel() == numel,
            ctx, ": internal: destination must be a contiguous cpu tensor of ", numel,
            " elements, got ", dst.str());
  const auto* p = static_cast<const unsigned char*>(src);
  const DType to = dst.dtype();
  if (runtime_dtype_of(src_dt) == to) {  // same representation: plain copy
    if (numel > 0) std::memcpy(dst.data_ptr(), p, dst.nbytes());
    return;
  }
  if (is_floating(to)) {
    SPT_CHECK(stored_is_floating(src_dt), ctx, ": cannot convert ", stored_dtype_name(src_dt),
              " to ", dtype_name(to), "; hint: spt loads only F64, F32, F16 and BF16 tensors as "
              "floating-point parameters");
    for (int64_t i = 0; i < numel; ++i) {
      const double v = load_float(p, src_dt, i);
      switch (to) {
        case DType::f64: dst.data<double>()[i] = v; break;
        case DType::f32: dst.data<float>()[i] = static_cast<float>(v); break;
        case DType::bf16: dst.data<uint16_t>()[i] = f32_to_bf16(static_cast<float>(v)); break;
        case DType::f16: dst.data<uint16_t>()[i] = f32_to_f16(static_cast<float>(v)); break;
        default: break;
      }
    }
    return;
  }
  SPT_CHECK(stored_is_integer(src_dt), ctx, ": cannot convert ", stored_dtype_name(src_dt), " to ",
            dtype_name(to), "; hint: integer tensors load from integer or BOOL data only");
  bool overflow = false;
  for (int64_t i = 0; i < numel; ++i) {
    const int64_t v = load_int(p, src_dt, i, overflow);
    if (to == DType::i64) {
      dst.data<int64_t>()[i] = v;
    } else if (to == DType::i16) {
      if (v < std::numeric_limits<int16_t>::min() || v > std::numeric_limits<int16_t>::max())
        overflow = true;
      dst.data<int16_t>()[i] = static_cast<int16_t>(v);
    } else {
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        overflow = true;
      dst.data<int32_t>()[i] = static_cast<int32_t>(v);
    }
  }
  SPT_CHECK(!overflow, ctx, ": values of ", stored_dtype_name(src_dt), " do not fit in ",
            dtype_name(to), "; hint: load it as i64");
}

}  // namespace spt::io
