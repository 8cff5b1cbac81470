// Tensor: a typed, shaped, strided view into reference-counted device storage.
//
// Storage comes from the device's allocator (or one passed in), so peak memory
// is tracked per device. Views (reshape, slice) share storage. Kernels require
// contiguous tensors unless an op says otherwise; the op layer checks.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "spt/core/allocator.h"
#include "spt/core/device.h"
#include "spt/core/dtype.h"

namespace spt {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[8,128,768]"
int64_t shape_numel(const Shape& s);

// One allocation; returned to its allocator when the last tensor using it dies.
class Storage {
 public:
  Storage(size_t nbytes, Allocator& alloc);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return alloc_.device(); }

 private:
  Allocator& alloc_;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised tensor; `alloc` defaults to the device's default allocator.
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu(),
                      Allocator* alloc = nullptr);
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu(),
                      Allocator* alloc = nullptr);
  // Host values converted to `dtype` (with rounding for bf16/f16), then placed on `device`.
  static Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype,
                             Device device = Device::cpu());
  static Tensor from_ints(const std::vector<int64_t>& values, const Shape& shape, DType dtype,
                          Device device = Device::cpu());

  bool defined() const { return defined_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }  // in elements
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  // "f32[8,128,768] cpu"
  std::string str() const;

  void* data_ptr() const;
  // Typed pointer (the caller has checked the dtype).
  template <class T>
  T* data() const {
    return static_cast<T*>(data_ptr());
  }

  // Contiguous view with a new shape (one dim may be -1).
  Tensor reshape(const Shape& shape) const;
  // View of rows [start, end) along dim 0 (contiguous if this is).
  Tensor narrow0(int64_t start, int64_t end) const;

  Tensor to(Device device) const;  // copy to another device (same dtype)
  Tensor to(DType dtype) const;    // converted copy on the same device
  Tensor clone() const;
  void copy_from(const Tensor& src);  // same shape; any devices, same dtype
  void zero_();

  // Host copies for tests and I/O (any dtype, any device).
  std::vector<double> to_doubles() const;
  std::vector<int64_t> to_ints() const;

  bool same_storage(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // elements
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::f32;
  Device device_;
  bool defined_ = false;
};

}  // namespace spt
