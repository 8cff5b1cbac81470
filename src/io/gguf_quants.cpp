// ggml tensor types and their dequantisation to f32, block by block.
//
// Each formula is gguf-py's (gguf/quants.py) with its f32 operations in the
// same order, so that the results match it bit for bit (this file is compiled
// with -ffp-contract=off, src/io/CMakeLists.txt: no a * b + c fused into an FMA):
//   F16 / BF16    IEEE half / the f32 with bits u16 << 16
//   Q8_0  (32)    d * q,                 q int8
//   Q4_0  (32)    d * (n - 8)            n = low nibble of qs[i] (i < 16), else high nibble of qs[i - 16]
//   Q4_1  (32)    (d * n) + m
//   Q5_0  (32)    d * (n + 16 h - 16)    h = bit i of qh (u32)
//   Q5_1  (32)    (d * (n + 16 h)) + m
//   Q4_K (256)    (d * sc[s]) * q - (dmin * mn[s]), 8 sub-blocks of 32 with 6-bit scales and mins
//   Q5_K (256)    as Q4_K with q += 16 * (bit s of qh[l])
//   Q6_K (256)    (d * sc[e / 16]) * (q - 32), q = 4 low bits from ql, 2 high bits from qh
// (../shared/docs/formats.md 2.3 has the block layouts.)
#include <cstring>

#include "spt/core/dtype.h"
#include "spt/core/error.h"
#include "spt/io/gguf.h"

namespace spt::io {

namespace {

struct Entry {
  uint32_t id;
  GgmlTypeInfo info;
};

// Sizes from ggml (ggml.c type_traits / gguf-py GGML_QUANT_SIZES).
const Entry kTypes[] = {
    {0, {"F32", 1, 4, true}},         {1, {"F16", 1, 2, true}},        {2, {"Q4_0", 32, 18, true}},
    {3, {"Q4_1", 32, 20, true}},      {6, {"Q5_0", 32, 22, true}},     {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},      {9, {"Q8_1", 32, 40, false}},    {10, {"Q2_K", 256, 84, false}},
    {11, {"Q3_K", 256, 110, false}},  {12, {"Q4_K", 256, 144, true}},  {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}},   {15, {"Q8_K", 256, 292, false}}, {16, {"IQ2_XXS", 256, 66, false}},
    {17, {"IQ2_XS", 256, 74, false}}, {18, {"IQ3_XXS", 256, 98, false}}, {19, {"IQ1_S", 256, 50, false}},
    {20, {"IQ4_NL", 32, 18, false}},  {21, {"IQ3_S", 256, 110, false}}, {22, {"IQ2_S", 256, 82, false}},
    {23, {"IQ4_XS", 256, 136, false}}, {24, {"I8", 1, 1, false}},     {25, {"I16", 1, 2, false}},
    {26, {"I32", 1, 4, false}},       {27, {"I64", 1, 8, false}},      {28, {"F64", 1, 8, false}},
    {29, {"IQ1_M", 256, 56, false}},  {30, {"BF16", 1, 2, true}},      {34, {"TQ1_0", 256, 54, false}},
    {35, {"TQ2_0", 256, 66, false}},  {39, {"MXFP4", 32, 17, false}},   {40, {"NVFP4", 64, 36, false}},
    {41, {"Q1_0", 128, 18, false}},
};

float half(const unsigned char* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Nibble i (0..31) of a 32-value block's 16 bytes.
inline uint8_t nibble(const unsigned char* qs, int i) { return i < 16 ? (qs[i] & 0x0F) : (qs[i - 16] >> 4); }

void q8_0(const unsigned char* b, float* y) {
  const float d = half(b);
  for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(static_cast<int8_t>(b[2 + i])) * d;
}

void q4_0(const unsigned char* b, float* y) {
  const float d = half(b);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(static_cast<int>(nibble(b + 2, i)) - 8);
}

void q4_1(const unsigned char* b, float* y) {
  const float d = half(b), m = half(b + 2);
  for (int i = 0; i < 32; ++i) {
    const float dq = d * static_cast<float>(nibble(b + 4, i));
    y[i] = dq + m;
  }
}

uint32_t u32_at(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void q5_0(const unsigned char* b, float* y) {
  const float d = half(b);
  const uint32_t qh = u32_at(b + 2);
  for (int i = 0; i < 32; ++i) {
    const int q = nibble(b + 6, i) | static_cast<int>(((qh >> i) & 1u) << 4);
    y[i] = d * static_cast<float>(q - 16);
  }
}

void q5_1(const unsigned char* b, float* y) {
  const float d = half(b), m = half(b + 2);
  const uint32_t qh = u32_at(b + 4);
  for (int i = 0; i < 32; ++i) {
    const int q = nibble(b + 8, i) | static_cast<int>(((qh >> i) & 1u) << 4);
    const float dq = d * static_cast<float>(q);
    y[i] = dq + m;
  }
}

// The 6-bit scale and min of sub-block s (0..7) from the 12 packed bytes.
void scale_min_k4(const unsigned char* S, int s, int& sc, int& mn) {
  if (s < 4) {
    sc = S[s] & 63;
    mn = S[s + 4] & 63;
  } else {
    sc = (S[s + 4] & 0x0F) | ((S[s - 4] >> 6) << 4);
    mn = (S[s + 4] >> 4) | ((S[s] >> 6) << 4);
  }
}

// Q4_K (qh == nullptr) and Q5_K.
void qk_4_5(const unsigned char* b, const unsigned char* scales, const unsigned char* qh, const unsigned char* qs,
            float* y) {
  const float d = half(b), dmin = half(b + 2);
  for (int s = 0; s < 8; ++s) {
    int sc = 0, mn = 0;
    scale_min_k4(scales, s, sc, mn);
    const float ds = d * static_cast<float>(sc), ms = dmin * static_cast<float>(mn);
    const unsigned char* q = qs + 32 * (s / 2);
    for (int l = 0; l < 32; ++l) {
      int v = (s % 2 == 0) ? (q[l] & 0x0F) : (q[l] >> 4);
      if (qh != nullptr) v |= ((qh[l] >> s) & 1) << 4;
      const float dq = ds * static_cast<float>(v);
      y[32 * s + l] = dq - ms;
    }
  }
}

void q4_k(const unsigned char* b, float* y) { qk_4_5(b, b + 4, nullptr, b + 16, y); }
void q5_k(const unsigned char* b, float* y) { qk_4_5(b, b + 4, b + 16, b + 48, y); }

void q6_k(const unsigned char* b, float* y) {
  const unsigned char *ql = b, *qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half(b + 208);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const unsigned char lo = ql[64 * h + 32 * (g % 2) + l];
    const int low = g < 2 ? (lo & 0x0F) : (lo >> 4);
    const int high = (qh[32 * h + l] >> (2 * g)) & 3;
    const float ds = d * static_cast<float>(sc[e / 16]);
    y[e] = ds * static_cast<float>((low | (high << 4)) - 32);
  }
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
  for (const Entry& e : kTypes)
    if (e.id == type) return &e.info;
  return nullptr;
}

std::string ggml_type_name(uint32_t type) {
  const GgmlTypeInfo* t = ggml_type_info(type);
  return t != nullptr ? t->name : "unknown type " + std::to_string(type);
}

std::string ggml_dequantizable_names() {
  std::string s;
  for (const Entry& e : kTypes)
    if (e.info.dequantizable) s += (s.empty() ? "" : ", ") + std::string(e.info.name);
  return s;
}

void dequantize_ggml(uint32_t type, const unsigned char* src, int64_t n, float* dst) {
  const GgmlTypeInfo* t = ggml_type_info(type);
  SPT_CHECK(t != nullptr && t->dequantizable, "[gguf] cannot dequantise ", ggml_type_name(type), "; spt reads ",
            ggml_dequantizable_names());
  SPT_CHECK(n >= 0 && n % t->block_values == 0, "[gguf] ", n, " values of ", t->name, " are not whole blocks of ",
            t->block_values);
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32:
      if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = half(src + 2 * i);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    default:
      break;
  }
  void (*block)(const unsigned char*, float*) = nullptr;
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::Q8_0: block = q8_0; break;
    case GgmlType::Q4_0: block = q4_0; break;
    case GgmlType::Q4_1: block = q4_1; break;
    case GgmlType::Q5_0: block = q5_0; break;
    case GgmlType::Q5_1: block = q5_1; break;
    case GgmlType::Q4_K: block = q4_k; break;
    case GgmlType::Q5_K: block = q5_k; break;
    case GgmlType::Q6_K: block = q6_k; break;
    default: fail("[gguf] no dequantiser for ", t->name);
  }
  const int64_t blocks = n / t->block_values;
#pragma omp parallel for schedule(static) if (blocks >= 4096)
  for (int64_t i = 0; i < blocks; ++i) block(src + i * t->block_bytes, dst + i * t->block_values);
}

}  // namespace spt::io
