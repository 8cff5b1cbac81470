// CPU memory kernels: copies, dtype casts, fills.
#include <cstring>

#include "src/cpu/cpu_backend.h"
#include "spt/core/runtime.h"

namespace spt::cpu {

std::string CpuBackend::name() const {
  const RuntimeInfo i = runtime_info();
  return "cpu (" + i.blas_config + ", " + std::to_string(i.threads) + " threads)";
}

void CpuBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  std::memcpy(dst, src, nbytes);
}

void CpuBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  std::memcpy(dst, src, nbytes);
}

void CpuBackend::copy(Tensor& dst, const Tensor& src) {
  if (dst.nbytes() > 0) std::memcpy(dst.data_ptr(), src.data_ptr(), dst.nbytes());
}

static float load_f32(const void* p, DType dt, int64_t i) {
  switch (dt) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::bf16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::f16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: fail("[cast] unsupported source dtype ", dtype_name(dt));
  }
}

void CpuBackend::cast(Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  const DType sd = src.dtype(), dd = dst.dtype();
  SPT_CHECK(sd == DType::f32 || sd == DType::bf16 || sd == DType::f16, "[cast] cannot cast from ",
            dtype_name(sd));
  SPT_CHECK(dd == DType::f32 || dd == DType::bf16 || dd == DType::f16, "[cast] cannot cast to ",
            dtype_name(dd));
  const void* s = src.data_ptr();
  void* d = dst.data_ptr();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float v = load_f32(s, sd, i);
    if (dd == DType::f32) static_cast<float*>(d)[i] = v;
    else if (dd == DType::bf16) static_cast<uint16_t*>(d)[i] = f32_to_bf16(v);
    else static_cast<uint16_t*>(d)[i] = f32_to_f16(v);
  }
}

template <class T>
static void fill_as(void* p, int64_t n, T v) {
  T* d = static_cast<T*>(p);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) d[i] = v;
}

void CpuBackend::fill(Tensor& t, double value) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::f32: fill_as(t.data_ptr(), n, static_cast<float>(value)); break;
    case DType::f64: fill_as(t.data_ptr(), n, value); break;
    case DType::bf16: fill_as(t.data_ptr(), n, f32_to_bf16(static_cast<float>(value))); break;
    case DType::f16: fill_as(t.data_ptr(), n, f32_to_f16(static_cast<float>(value))); break;
    case DType::i32: fill_as(t.data_ptr(), n, static_cast<int32_t>(value)); break;
    case DType::i64: fill_as(t.data_ptr(), n, static_cast<int64_t>(value)); break;
    case DType::i16: fill_as(t.data_ptr(), n, static_cast<int16_t>(value)); break;
  }
}

}  // namespace spt::cpu
