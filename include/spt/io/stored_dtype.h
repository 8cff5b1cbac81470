// Element types as stored in checkpoint files (safetensors names), and their
// conversion into runtime tensors.
//
// Files may hold more types than the runtime has (I16, U8, BOOL, F8...); every
// type is known by name and size so that any valid file can be inspected, and
// converted on load: floating types (F64, F32, F16, BF16) to any floating
// runtime dtype, integer types (I64...U8, BOOL) to i32/i64 (range-checked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "spt/core/tensor.h"

namespace spt::io {

enum class StoredDType : uint8_t {
  BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64
};

// "F32", "BF16", ... as in safetensors headers.
const char* stored_dtype_name(StoredDType dt);
// nullopt for a name that is not a known dtype.
std::optional<StoredDType> stored_dtype_from_name(const std::string& name);
// All known names, comma-separated (for error messages).
std::string stored_dtype_names();
size_t stored_dtype_size(StoredDType dt);
bool stored_is_floating(StoredDType dt);  // F64, F32, F16, BF16 (convertible to floats)
bool stored_is_integer(StoredDType dt);   // BOOL, U8, I8, I16, U16, I32, U32, I64, U64
// The runtime dtype holding the values without conversion, if there is one.
std::optional<DType> runtime_dtype_of(StoredDType dt);
StoredDType stored_dtype_of(DType dt);

// Converts `numel` contiguous little-endian elements of type `src_dt` at `src`
// (any alignment) into `dst`, a contiguous CPU tensor of numel elements.
// Throws spt::Error (prefixed with `ctx`) when the conversion is not possible
// (e.g. F8 to f32, F32 to i64) or an integer does not fit.
void convert_into(Tensor& dst, const void* src, StoredDType src_dt, int64_t numel,
                  const std::string& ctx);

}  // namespace spt::io
