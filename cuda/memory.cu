// Dtype casts and fills on the GPU (as src/cpu/memory.cpp).
//   cast: dst = convert(src) between f32, bf16 and f16, round to nearest even;
//         bit-identical with the CPU backend (see device/convert.cuh).
//   fill: every element = value, converted to the tensor's dtype on the host
//         exactly as CpuBackend::fill does, then written as a bit pattern.
// Copies between tensors of one dtype are in cuda_backend.cpp.
#include <cstring>

#include "backend_impl.h"
#include "cuda_check.h"
#include "device/convert.cuh"
#include "device/indexing.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

template <class Src, class Dst>
__global__ void cast_kernel(typename Dst::Bits* dst, const typename Src::Bits* src, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride())
    dst[i] = Dst::store(Src::load(src[i]));
}

template <class Bits>
__global__ void fill_kernel(Bits* data, Bits pattern, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) data[i] = pattern;
}

bool castable(DType dt) { return dt == DType::f32 || dt == DType::bf16 || dt == DType::f16; }

template <class Src, class Dst>
void launch_cast(void* dst, const void* src, int64_t n, cudaStream_t stream) {
  cast_kernel<Src, Dst><<<grid_for(n), kThreads, 0, stream>>>(
      static_cast<typename Dst::Bits*>(dst), static_cast<const typename Src::Bits*>(src), n);
  SPT_CUDA_CHECK_LAUNCH("cast_kernel");
}

template <class Src>
void cast_from(DType dst_dtype, void* dst, const void* src, int64_t n, cudaStream_t stream) {
  switch (dst_dtype) {
    case DType::f32: launch_cast<Src, device::F32Io>(dst, src, n, stream); break;
    case DType::bf16: launch_cast<Src, device::Bf16Io>(dst, src, n, stream); break;
    case DType::f16: launch_cast<Src, device::F16Io>(dst, src, n, stream); break;
    default: fail("[cast] dtype ", dtype_name(dst_dtype), " not supported on cuda");
  }
}

// The bits of a host value, as the fill kernel writes them.
template <class Bits, class T>
Bits bits_of(T value) {
  static_assert(sizeof(Bits) == sizeof(T));
  Bits bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

template <class Bits>
void fill_bits(void* data, Bits pattern, int64_t n, cudaStream_t stream) {
  if (pattern == 0) {  // +0.0 and integer 0 are all-zero bytes
    SPT_CUDA_CHECK(cudaMemsetAsync(data, 0, static_cast<size_t>(n) * sizeof(Bits), stream));
    return;
  }
  fill_kernel<Bits><<<grid_for(n), kThreads, 0, stream>>>(static_cast<Bits*>(data), pattern, n);
  SPT_CUDA_CHECK_LAUNCH("fill_kernel");
}

}  // namespace

void CudaBackend::cast(Tensor& dst, const Tensor& src) {
  SPT_CHECK(castable(src.dtype()), "[cast] dtype ", dtype_name(src.dtype()),
            " not supported on cuda (f32, bf16, f16)");
  SPT_CHECK(castable(dst.dtype()), "[cast] dtype ", dtype_name(dst.dtype()),
            " not supported on cuda (f32, bf16, f16)");
  const int64_t n = dst.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  if (src.dtype() == dst.dtype()) {
    copy_bytes(dst.data_ptr(), src.data_ptr(), dst.nbytes());
    return;
  }
  void* d = dst.data_ptr();
  const void* s = src.data_ptr();
  switch (src.dtype()) {
    case DType::f32: cast_from<device::F32Io>(dst.dtype(), d, s, n, stream()); break;
    case DType::bf16: cast_from<device::Bf16Io>(dst.dtype(), d, s, n, stream()); break;
    case DType::f16: cast_from<device::F16Io>(dst.dtype(), d, s, n, stream()); break;
    default: break;  // rejected above
  }
}

void CudaBackend::fill(Tensor& t, double value) {
  const int64_t n = t.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  void* d = t.data_ptr();
  switch (t.dtype()) {
    case DType::f32: fill_bits(d, bits_of<uint32_t>(static_cast<float>(value)), n, stream()); break;
    case DType::f64: fill_bits(d, bits_of<uint64_t>(value), n, stream()); break;
    case DType::bf16: fill_bits(d, f32_to_bf16(static_cast<float>(value)), n, stream()); break;
    case DType::f16: fill_bits(d, f32_to_f16(static_cast<float>(value)), n, stream()); break;
    case DType::i32:
      fill_bits(d, bits_of<uint32_t>(static_cast<int32_t>(value)), n, stream());
      break;
    case DType::i64:
      fill_bits(d, bits_of<uint64_t>(static_cast<int64_t>(value)), n, stream());
      break;
    case DType::i16:
      fill_bits(d, bits_of<uint16_t>(static_cast<int16_t>(value)), n, stream());
      break;
  }
}

}  // namespace spt::cuda
