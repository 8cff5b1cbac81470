// Per-device allocators that track current and peak bytes.
//
// Peak bytes is how every memory goal of the project is measured, on CPU too:
// `current` counts bytes handed out to live tensors, `peak` its high-water mark
// since the last reset_peak(). `reserved` is what the allocator holds from the
// system (equal to current on CPU; larger on CUDA where freed blocks are cached).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "spt/core/device.h"

namespace spt {

struct MemoryStats {
  size_t current = 0;       // bytes in live allocations
  size_t peak = 0;          // max of current since the last reset_peak()
  size_t reserved = 0;      // bytes obtained from the system (incl. cached blocks)
  uint64_t num_alloc = 0;   // allocate() calls
  uint64_t num_system = 0;  // calls into malloc / cudaMalloc
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual Device device() const = 0;
  // Returns memory aligned to at least 256 bytes; nbytes == 0 gives nullptr.
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  // Returns cached blocks to the system (no-op where nothing is cached).
  virtual void release_cached() {}
  MemoryStats stats() const;
  void reset_peak();

 protected:
  void record_alloc(size_t nbytes, bool from_system);
  void record_free(size_t nbytes);
  void record_system_free(size_t nbytes);

  mutable std::mutex stats_mutex_;
  MemoryStats stats_;
};

// The host allocator: 256-byte aligned blocks straight from the C library.
class CpuAllocator final : public Allocator {
 public:
  Device device() const override { return Device::cpu(); }
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
};

}  // namespace spt
