// Tensor construction, views, copies and host conversion.
#include "spt/core/tensor.h"

#include <cstring>

#include "spt/backend/backend.h"
#include "spt/core/error.h"

namespace spt {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Storage::Storage(size_t nbytes, Allocator& alloc) : alloc_(alloc), nbytes_(nbytes) {
  data_ = alloc_.allocate(nbytes);
}

Storage::~Storage() { alloc_.deallocate(data_, nbytes_); }

static Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, Allocator* alloc) {
  for (int64_t d : shape)
    SPT_CHECK(d >= 0, "[tensor] negative dimension in shape ", shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.defined_ = true;
  Allocator& a = alloc ? *alloc : default_allocator(device);
  SPT_CHECK(a.device() == device, "[tensor] allocator for ", a.device().str(),
            " cannot allocate on ", device.str());
  t.storage_ = std::make_shared<Storage>(t.nbytes(), a);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device, Allocator* alloc) {
  Tensor t = empty(shape, dtype, device, alloc);
  t.zero_();
  return t;
}

// Converts host doubles into the element type's bytes.
static void store_doubles(void* dst, DType dt, const double* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = src[i];
    switch (dt) {
      case DType::f32: static_cast<float*>(dst)[i] = static_cast<float>(v); break;
      case DType::f64: static_cast<double*>(dst)[i] = v; break;
      case DType::bf16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(static_cast<float>(v)); break;
      case DType::f16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(static_cast<float>(v)); break;
      case DType::i32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v); break;
      case DType::i64: static_cast<int64_t*>(dst)[i] = static_cast<int64_t>(v); break;
      case DType::i16: static_cast<int16_t*>(dst)[i] = static_cast<int16_t>(v); break;
    }
  }
}

static double load_double(const void* src, DType dt, int64_t i) {
  switch (dt) {
    case DType::f32: return static_cast<const float*>(src)[i];
    case DType::f64: return static_cast<const double*>(src)[i];
    case DType::bf16: return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case DType::f16: return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case DType::i32: return static_cast<const int32_t*>(src)[i];
    case DType::i64: return static_cast<double>(static_cast<const int64_t*>(src)[i]);
    case DType::i16: return static_cast<const int16_t*>(src)[i];
  }
  return 0;
}

Tensor Tensor::from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype,
                            Device device) {
  SPT_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "[tensor] ", values.size(),
            " values given for shape ", shape_str(shape));
  Tensor host = empty(shape, dtype, Device::cpu());
  store_doubles(host.data_ptr(), dtype, values.data(), host.numel());
  return device.is_cpu() ? host : host.to(device);
}

Tensor Tensor::from_ints(const std::vector<int64_t>& values, const Shape& shape, DType dtype,
                         Device device) {
  SPT_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "[tensor] ", values.size(),
            " values given for shape ", shape_str(shape));
  Tensor host = empty(shape, dtype, Device::cpu());
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::i64) host.data<int64_t>()[i] = values[i];
    else if (dtype == DType::i32) host.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
    else {
      const double d = static_cast<double>(values[i]);
      store_doubles(static_cast<char*>(host.data_ptr()) + i * dtype_size(dtype), dtype, &d, 1);
    }
  }
  return device.is_cpu() ? host : host.to(device);
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  const int j = i < 0 ? i + n : i;
  SPT_CHECK(j >= 0 && j < n, "[tensor] dim ", i, " out of range for ", str());
  return shape_[j];
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

std::string Tensor::str() const {
  if (!defined_) return "<undefined tensor>";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device_.str();
}

void* Tensor::data_ptr() const {
  if (!storage_ || !storage_->data()) return nullptr;
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

Tensor Tensor::reshape(const Shape& shape) const {
  SPT_CHECK(defined_ && is_contiguous(), "[reshape] needs a contiguous tensor, got ", str());
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      SPT_CHECK(infer < 0, "[reshape] more than one -1 in ", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    SPT_CHECK(known > 0 && numel() % known == 0, "[reshape] cannot reshape ", str(), " to ",
              shape_str(shape));
    s[infer] = numel() / known;
  }
  SPT_CHECK(shape_numel(s) == numel(), "[reshape] cannot reshape ", str(), " to ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::narrow0(int64_t start, int64_t end) const {
  SPT_CHECK(ndim() >= 1 && 0 <= start && start <= end && end <= shape_[0], "[narrow0] range [",
            start, ", ", end, ") invalid for ", str());
  Tensor t = *this;
  t.offset_ += start * strides_[0];
  t.shape_[0] = end - start;
  return t;
}

Tensor Tensor::to(Device device) const {
  SPT_CHECK(defined_, "[tensor.to] undefined tensor");
  SPT_CHECK(is_contiguous(), "[tensor.to] needs a contiguous tensor, got ", str());
  Tensor out = empty(shape_, dtype_, device);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  SPT_CHECK(defined_ && is_contiguous(), "[tensor.to] needs a contiguous tensor, got ", str());
  Tensor out = empty(shape_, dtype, device_);
  if (dtype == dtype_) {
    out.copy_from(*this);
  } else if (is_floating(dtype) && is_floating(dtype_) && dtype != DType::f64 && dtype_ != DType::f64) {
    backend_for(device_).cast(out, *this);
  } else {
    SPT_CHECK(device_.is_cpu(), "[tensor.to] conversion ", dtype_name(dtype_), " -> ",
              dtype_name(dtype), " is only available on cpu");
    std::vector<double> v = to_doubles();
    store_doubles(out.data_ptr(), dtype, v.data(), numel());
  }
  return out;
}

Tensor Tensor::clone() const { return to(device_); }

void Tensor::copy_from(const Tensor& src) {
  SPT_CHECK(defined_ && src.defined_ && src.shape_ == shape_ && src.dtype_ == dtype_,
            "[copy] shape/dtype mismatch: ", str(), " <- ", src.str());
  SPT_CHECK(is_contiguous() && src.is_contiguous(), "[copy] needs contiguous tensors: ", str(),
            " <- ", src.str());
  if (nbytes() == 0) return;
  if (device_ == src.device_) {
    backend_for(device_).copy(*this, src);
  } else if (src.device_.is_cpu()) {
    backend_for(device_).copy_from_host(data_ptr(), src.data_ptr(), nbytes());
  } else if (device_.is_cpu()) {
    backend_for(src.device_).copy_to_host(data_ptr(), src.data_ptr(), nbytes());
  } else {
    copy_from(src.to(Device::cpu()));
  }
}

void Tensor::zero_() {
  if (numel() > 0) backend_for(device_).fill(*this, 0.0);
}

std::vector<double> Tensor::to_doubles() const {
  const Tensor host = device_.is_cpu() && is_contiguous() ? *this : to(Device::cpu());
  std::vector<double> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[i] = load_double(host.data_ptr(), dtype_, i);
  return out;
}

std::vector<int64_t> Tensor::to_ints() const {
  const Tensor host = device_.is_cpu() && is_contiguous() ? *this : to(Device::cpu());
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) {
    if (dtype_ == DType::i64) out[i] = host.data<int64_t>()[i];
    else if (dtype_ == DType::i32) out[i] = host.data<int32_t>()[i];
    else out[i] = static_cast<int64_t>(load_double(host.data_ptr(), dtype_, i));
  }
  return out;
}

}  // namespace spt
